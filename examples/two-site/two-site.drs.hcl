# One primary in Paris, its backups on a share there, and two standbys at
# two other sites: Frankfurt reads its copies from a share (SMB), the AWS
# region from S3. Change the hosts, shares, buckets and databases; every
# secret comes from the environment (see README.md).

# On the host that runs drsctl, not in this directory.
state {
  url = "/var/lib/drsctl/two-site/drs.state.json"
}

backup_folder "paris" {
  # drsctl reads the backups here (password: DRSCTL_SMB_PASSWORD) ...
  url = "smb://drsctl@fs01.paris.example/drs/sales"
  # ... SQL Server writes them here.
  server_path = "\\\\fs01.paris.example\\drs\\sales"
  retention   = "7d"
}

primary "sales" {
  engine        = "sqlserver"
  connection    = env("DRS_SALES_PRIMARY_DSN")
  databases     = ["Sales", "Inventory"]
  backup_folder = backup_folder.paris
  full_backup { every = "24h" }
  # With apply every 5 minutes, the newest log backup is at most 5 minutes
  # old, and a standby at most about 10 minutes behind: within the RPO.
  log_backup { every = "5m" }
  rpo         = "15m"
  compression = true
}

# Site B: the failover site, a standby kept in NORECOVERY, its copies on
# Frankfurt's own file server, with its own credentials.
target "frankfurt" {
  primary      = primary.sales
  connection   = env("DRS_SALES_FRANKFURT_DSN")
  restore_mode = "norecovery"
  destination {
    url         = "smb://drsctl@fs01.frankfurt.example/drs/sales?password_env=DRS_FRANKFURT_SMB_PASSWORD"
    server_path = "\\\\fs01.frankfurt.example\\drs\\sales"
    retention   = "3d"
  }
}

# Site C: a read-only standby in AWS (SQL Server 2022 on EC2, restoring
# from S3 itself) that reports can query between restores; readers are
# disconnected for each restore.
target "aws" {
  primary          = primary.sales
  connection       = env("DRS_SALES_AWS_DSN")
  restore_mode     = "standby"
  disconnect_users = true
  destination {
    url         = "s3://acme-drs-dr/sales?region=eu-central-1"
    server_path = "s3://s3.eu-central-1.amazonaws.com/acme-drs-dr/sales"
    retention   = "3d"
  }
}
