# drsctl as a Kubernetes CronJob (cronjob.yaml): a pod keeps nothing between
# runs, so the state lives in S3. This file is also the data of the
# ConfigMap in cronjob.yaml (a test keeps the two identical): edit both, or
# create the ConfigMap from this file:
#   kubectl -n drs create configmap drsctl-config --from-file=drs.drs.hcl \
#     --dry-run=client -o yaml | kubectl apply -f -
# Secrets come from the drsctl-secrets Secret (secret.yaml), as variables.

state {
  url = "s3://acme-drs-state/k8s?region=eu-west-1"
}

backup_folder "sales" {
  url = "s3://acme-drs-backups/sales?region=eu-west-1"
  # SQL Server 2022 writes its backups to S3 itself (BACKUP TO URL).
  server_path = "s3://s3.eu-west-1.amazonaws.com/acme-drs-backups/sales"
  retention   = "7d"
}

primary "sales" {
  engine        = "sqlserver"
  connection    = env("DRS_SALES_PRIMARY_DSN")
  databases     = ["Sales"]
  backup_folder = backup_folder.sales
  full_backup { every = "24h" }
  log_backup { every = "5m" }
  rpo = "15m"
}

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
