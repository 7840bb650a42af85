# drsctl run from GitHub Actions (drsctl.yml beside this file): a runner's
# disk is thrown away after each job, so the state lives in S3, where every
# run (pull-request plans, applies on merge, the cron host) finds it.
# Copy this file to drs/ in your repository; change the names, hosts and
# bucket below. Secrets come from the environment (repository secrets in the
# workflow): drsctl validate needs none of them.

state {
  url = "s3://acme-drs-state/production?region=eu-west-1"
}

backup_folder "sales" {
  # How drsctl reads the backups (password: DRSCTL_SMB_PASSWORD) ...
  url = "smb://drsctl@fs01.corp.example/drs/sales"
  # ... and how SQL Server writes them.
  server_path = "\\\\fs01.corp.example\\drs\\sales"
  retention   = "7d"
}

primary "sales" {
  engine        = "sqlserver"
  connection    = env("DRS_SALES_PRIMARY_DSN")
  databases     = ["Sales", "Inventory"]
  backup_folder = backup_folder.sales
  full_backup { every = "24h" }
  log_backup { every = "15m" }
  rpo = "30m"
}

# A standby in another region, restored from its own copy in S3.
target "dr" {
  primary      = primary.sales
  connection   = env("DRS_SALES_DR_DSN")
  restore_mode = "norecovery"
  destination {
    url         = "s3://acme-drs-dr/sales?region=eu-central-1"
    server_path = "s3://s3.eu-central-1.amazonaws.com/acme-drs-dr/sales"
    retention   = "3d"
  }
}
