state {
  url = "drs.state.json"   # the default when absent: a path beside the config; s3://… and azblob://… later
}

backup_folder "sales_share" {
  url         = "smb://fs01.corp.example/drs/sales"
  server_path = "\\\\fs01.corp.example\\drs\\sales"
  retention   = "7d"
}

primary "sales" {
  engine        = "sqlserver"
  connection    = env("SALES_PRIMARY_DSN")   # secret: never written to state, plan or logs
  databases     = ["Sales", "Inventory"]
  backup_folder = backup_folder.sales_share
  full_backup { every = "24h" }
  log_backup  { every = "15m" }
  rpo           = "30m"
  compression   = true
}

target "dr_east" {
  primary    = primary.sales
  kind       = "standby"                      # or "copy_only"
  connection = env("DR_EAST_DSN")
  destination {
    url         = "s3://drs-east/sales?region=us-east-1"
    server_path = "s3://s3.us-east-1.amazonaws.com/drs-east/sales"
    retention   = "3d"
  }
  restore_mode     = "standby"                # read-only warm standby; or "norecovery"
  restore_delay    = "0m"
  disconnect_users = true
  data_dir         = "D:\\Data"               # MOVE targets for restored files
  log_dir          = "L:\\Log"
}
