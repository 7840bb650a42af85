# primery is a typo for primary.

backup_folder "sales_share" {
  url = "file:///var/opt/mssql/backup"
}

primery "sales" {
  engine = "sqlserver"
}
