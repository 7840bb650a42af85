# drsctl run by cron (drsctl.cron) or a systemd timer (drsctl-apply.timer)
# on one host: the state is a local file in /var/lib/drsctl, which systemd's
# StateDirectory= creates (for cron: see README.md).
# Change the hosts, shares and databases; secrets come from
# /etc/drsctl/drsctl.env (see drsctl.env.example).

state {
  url = "/var/lib/drsctl/drs.state.json"
}

backup_folder "sales" {
  url         = "smb://drsctl@fs01.corp.example/drs/sales"
  server_path = "\\\\fs01.corp.example\\drs\\sales"
  retention   = "7d"
}

primary "sales" {
  engine        = "sqlserver"
  connection    = env("DRS_SALES_PRIMARY_DSN")
  databases     = ["Sales"]
  backup_folder = backup_folder.sales
  full_backup { every = "24h" }
  log_backup { every = "5m" } # the timer runs every 5 minutes too
  rpo = "15m"
}

target "dr" {
  primary      = primary.sales
  connection   = env("DRS_SALES_DR_DSN")
  restore_mode = "norecovery"
  destination {
    url         = "smb://drsctl@fs02.dr.example/drs/sales"
    server_path = "\\\\fs02.dr.example\\drs\\sales"
    retention   = "3d"
  }
}
