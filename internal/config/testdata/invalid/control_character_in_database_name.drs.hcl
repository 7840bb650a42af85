# A database name with a tab in it (and one with a right-to-left override).

backup_folder "sales_share" {
  url         = "smb://fs01.corp.example/drs/sales"
  server_path = "\\\\fs01.corp.example\\drs\\sales"
}

primary "sales" {
  engine        = "sqlserver"
  connection    = env("SALES_PRIMARY_DSN")
  databases     = ["Sales", "Inven\ttory", "a..b",
                   "Pay\u202Eroll"]
  backup_folder = backup_folder.sales_share
  full_backup { every = "24h" }
  log_backup  { every = "15m" }
  rpo           = "30m"
}
