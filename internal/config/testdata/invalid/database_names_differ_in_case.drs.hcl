# Sales and SALES are one database on a case-insensitive server, and their
# files would collide on an SMB share.

backup_folder "sales_share" {
  url         = "smb://fs01.corp.example/drs/sales"
  server_path = "\\\\fs01.corp.example\\drs\\sales"
}

primary "sales" {
  engine        = "sqlserver"
  connection    = env("SALES_PRIMARY_DSN")
  databases     = ["Sales", "Inventory", "SALES"]
  backup_folder = backup_folder.sales_share
  full_backup { every = "24h" }
  log_backup  { every = "15m" }
  rpo           = "30m"
}
