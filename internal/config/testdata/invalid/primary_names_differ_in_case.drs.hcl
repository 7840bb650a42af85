# Two primaries whose names differ only in case share a backup folder:
# their files would collide on an SMB share.

backup_folder "share" {
  url         = "smb://fs01.corp.example/drs/sales"
  server_path = "\\\\fs01.corp.example\\drs\\sales"
}

primary "sales" {
  engine        = "sqlserver"
  connection    = env("SALES_PRIMARY_DSN")
  databases     = ["Sales"]
  backup_folder = backup_folder.share
  full_backup { every = "24h" }
  log_backup  { every = "15m" }
  rpo           = "30m"
}

primary "Sales" {
  engine        = "sqlserver"
  connection    = env("SALES2_PRIMARY_DSN")
  databases     = ["Orders"]
  backup_folder = backup_folder.share
  full_backup { every = "24h" }
  log_backup  { every = "15m" }
  rpo           = "30m"
}

target "dr" {
  primary    = primary.Sales
  connection = env("DR_DSN")
  destination {
    url         = "s3://drs-east/sales"
    server_path = "s3://s3.us-east-1.amazonaws.com/drs-east/sales"
  }
}
