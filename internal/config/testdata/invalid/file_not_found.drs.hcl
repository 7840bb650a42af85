# file() of a file that does not exist.

backup_folder "sales_share" {
  url         = "smb://fs01.corp.example/drs/sales"
  server_path = "\\\\fs01.corp.example\\drs\\sales"
}

primary "sales" {
  engine        = "sqlserver"
  connection    = env("SALES_PRIMARY_DSN")
  databases     = ["Sales", "Inventory"]
  backup_folder = backup_folder.sales_share
  full_backup { every = "24h" }
  log_backup  { every = "15m" }
  rpo           = "30m"
}

target "dr_east" {
  primary    = primary.sales
  connection = file("dr_east.dsn")
  destination {
    url         = "s3://drs-east/sales"
    server_path = "s3://s3.us-east-1.amazonaws.com/drs-east/sales"
  }
}
