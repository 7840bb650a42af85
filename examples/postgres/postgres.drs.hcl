# drsctl for PostgreSQL: one primary and one hot standby, "dr", fed through a
# local folder. `make demo-postgres` (examples/postgres/demo.sh) starts a
# throwaway primary on this machine, sets the variables below and runs
# validate, plan and apply against this file; README.md says what to change
# for real servers.
#
# What drsctl needs on the primary: nothing configured for it. wal_level =
# replica (the default), a free WAL sender and replication slot
# (max_wal_senders, max_replication_slots: the defaults leave plenty), and a
# login with the REPLICATION attribute that pg_hba.conf lets in. No
# archive_command: drsctl takes base backups and WAL over the replication
# protocol, through a physical replication slot it creates, one per ledger
# ("drsctl_" and the start of the ledger's lineage). The slot keeps each WAL segment on the primary until drsctl's
# ledger records it; bound what it may keep with max_slot_wal_keep_size (the
# demo sets '1GB'): unbounded, a standby site that stops running drsctl
# would fill the primary's pg_wal, and plan and apply warn about it.

backup_folder "local" {
  # Where base backups and WAL land first (drsctl writes them itself: the
  # server does not need to see this folder).
  url       = "file://${env("DRS_DEMO_DIR")}/backups"
  retention = "1d"
}

primary "pg" {
  engine = "postgres"
  # A libpq URL, from the environment: never written to state, plans or
  # logs. Leave the password out of it: drsctl, like psql, reads it from
  # PGPASSWORD or ~/.pgpass (PGPASSFILE).
  connection = env("DRS_PRIMARY_DSN")
  # No databases: a PostgreSQL primary is protected as one cluster (a base
  # backup and the WAL hold every database). Plans, status and the ledger
  # call it "cluster".
  backup_folder = backup_folder.local
  full_backup { every = "24h" }
  # A due log backup closes the current WAL segment (pg_switch_wal), so
  # what was committed reaches the standby within this interval plus one
  # apply. Short here, so the demo sees one come due.
  log_backup { every = "5s" }
  rpo = "1m"
}

# A hot standby, always: read-only between restores, and promotable.
target "dr" {
  primary = primary.pg
  # How drsctl reaches the standby once it runs; drsctl starts it on this
  # URL's port (and host, as listen_addresses).
  connection = env("DRS_DR_DSN")
  # The standby's data directory ON THE HOST DRSCTL RUNS ON: drsctl unpacks
  # the base backup there, starts the cluster (as the postgres OS user when
  # run as root) and feeds it WAL through its restore_command, `drsctl
  # wal-fetch`, from an inbox beside it (dr.drsctl/wal). It must be empty or
  # missing at the first apply: drsctl never builds over a cluster it did
  # not create. So a standby on another machine needs a drsctl runner on
  # that machine, applying only its own target (one runner per site):
  #
  #   drsctl apply -auto-approve -target dr -lock-timeout 10m
  #
  # with a state every runner shares (a state block with s3:// or azblob://).
  data_dir = "${env("DRS_DEMO_DIR")}/dr"
  destination {
    url = "file://${env("DRS_DEMO_DIR")}/dr-ship"
  }
}
