package sqlsim

import "fmt"

// Versions: a backup carries the major version of the server that took it
// (HEADERONLY SoftwareVersionMajor, DatabaseVersion); a server refuses
// backups from a newer version (3169) and STANDBY for backups from an
// older one, which the restore upgrades (3180). See doc.go.

type productVer struct {
	build    int // SoftwareVersionBuild, ProductBuild
	database int // the internal database version (HEADERONLY DatabaseVersion)
}

var versions = map[int]productVer{
	15: {build: 4355, database: 904}, // SQL Server 2019 CU
	16: {build: 4135, database: 957}, // SQL Server 2022 CU15
}

func versionOf(major int) productVer { return versions[major] }

// backupMajor is the major version of the server that took the backup.
func backupMajor(h *bakHeader) int {
	if h.SoftwareVersionMajor == 0 {
		return 16 // files written before the version was kept
	}
	return h.SoftwareVersionMajor
}

// versionText is a version as 3169 prints it: 16.00.4135.
func versionText(major int) string {
	return fmt.Sprintf("%d.00.%04d", major, versionOf(major).build)
}

// checkVersion refuses a backup this server cannot restore: one taken on a
// newer version (3169), or, with STANDBY, one the restore has to upgrade
// (3180), including a log restored onto a database whose full came from an
// older version. Callers hold srv.mu.
func (srv *Server) checkVersion(h *bakHeader, d *database, what string, standby bool) *sqlError {
	m, mine := backupMajor(h), srv.opts.MajorVersion
	if m > mine {
		return newErr(3169, 16, "The database was backed up on a server running version %s. That version is incompatible with this server, which is running version %s. Either restore the database on a server that supports the backup, or use a backup that is compatible with this server.",
			versionText(m), versionText(mine))
	}
	if standby && (m < mine || (what == "LOG" && d != nil && d.UpgradeFrom != 0)) {
		return errStandbyUpgrade()
	}
	return nil
}

func errStandbyUpgrade() *sqlError {
	e := newErr(3180, 16, "This backup cannot be restored using WITH STANDBY because a database upgrade is needed. Reissue the RESTORE without WITH STANDBY.")
	e.msgs[0].State = 2
	return e
}

func orZero(lsn string) string {
	if lsn == "" {
		return "0"
	}
	return lsn
}

func optLSN(lsn string) value {
	if lsn == "" {
		return null(tLSN)
	}
	return lsnVal(lsn)
}
