# SQL Server compares names ignoring trailing spaces: "Sales " is "Sales".

backup_folder "sales_share" {
  url         = "smb://fs01.corp.example/drs/sales"
  server_path = "\\\\fs01.corp.example\\drs\\sales"
}

primary "sales" {
  engine        = "sqlserver"
  connection    = env("SALES_PRIMARY_DSN")
  databases     = [" Leading is fine", "Sales "]
  backup_folder = backup_folder.sales_share
  full_backup { every = "24h" }
  log_backup  { every = "15m" }
  rpo           = "30m"
}
