# drsctl quickstart: one primary and two standbys on this machine.
# `make demo` starts three SQL Server simulators, sets the variables below
# and runs validate, plan and apply against this file.

backup_folder "local" {
  # Where the primary writes its backups; file:// URLs need no server_path:
  # the server writes to the same local path.
  url       = "file://${env("DRS_DEMO_DIR")}/backups"
  retention = "1d"
}

primary "shop" {
  engine        = "sqlserver"
  connection    = env("DRS_PRIMARY_DSN")
  databases     = ["Shop"]
  backup_folder = backup_folder.local
  full_backup { every = "24h" }
  log_backup { every = "5s" } # short, so the demo sees a log backup come due
  rpo = "1m"
}

# A read-only warm standby: readers can query it between restores.
target "reporting" {
  primary          = primary.shop
  connection       = env("DRS_REPORTING_DSN")
  restore_mode     = "standby"
  disconnect_users = true
  data_dir         = "${env("DRS_DEMO_DIR")}/reporting-data"
  log_dir          = "${env("DRS_DEMO_DIR")}/reporting-data"
  destination {
    url = "file://${env("DRS_DEMO_DIR")}/reporting"
  }
}

# A disaster-recovery standby left in NORECOVERY, ready to be promoted.
target "dr" {
  primary      = primary.shop
  connection   = env("DRS_DR_DSN")
  restore_mode = "norecovery"
  data_dir     = "${env("DRS_DEMO_DIR")}/dr-data"
  log_dir      = "${env("DRS_DEMO_DIR")}/dr-data"
  destination {
    url = "file://${env("DRS_DEMO_DIR")}/dr"
  }
}
