package store

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/wardnet/ward/internal/pgtest"
)

// TestMain starts the PostgreSQL server that TestPostgres runs the suite
// against.
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// suite is every test of the package that runs against both backends:
// directly against SQLite, and as a subtest of TestPostgres against
// PostgreSQL (openTest looks at the test's name).
var suite = []struct {
	name string
	fn   func(*testing.T)
}{
	{"TestReserved", TestReserved},
	{"TestAddrsFor", TestAddrsFor},
	{"TestLowestFree", TestLowestFree},
	{"TestAllocationSkipsReserved", TestAllocationSkipsReserved},
	{"TestQuarantine", TestQuarantine},
	{"TestAllocationRecoversFromBadCursor", TestAllocationRecoversFromBadCursor},
	{"TestAppendAudit", TestAppendAudit},
	{"TestListAudit", TestListAudit},
	{"TestAppendAuditsInOneWrite", TestAppendAuditsInOneWrite},
	{"TestMapVersions", TestMapVersions},
	{"TestCreateAuthKey", TestCreateAuthKey},
	{"TestAuthKeyListAndRevoke", TestAuthKeyListAndRevoke},
	{"TestAuthKeyNotFoundMatchesNotFound", TestAuthKeyNotFoundMatchesNotFound},
	{"TestAPIKeys", TestAPIKeys},
	{"TestAPIKeyLifecycle", TestAPIKeyLifecycle},
	{"TestConcurrentWriters", TestConcurrentWriters},
	{"TestDurableAcrossReopen", TestDurableAcrossReopen},
	{"TestKeyCreatorDisabled", TestKeyCreatorDisabled},
	{"TestNodeLookups", TestNodeLookups},
	{"TestNodeUpdates", TestNodeUpdates},
	{"TestNodesAfter", TestNodesAfter},
	{"TestSetPresencesWritesBatch", TestSetPresencesWritesBatch},
	{"TestSetNodeTagsDropsUser", TestSetNodeTagsDropsUser},
	{"TestRotationKeepsAddresses", TestRotationKeepsAddresses},
	{"TestDeleteNode", TestDeleteNode},
	{"TestSavePolicy", TestSavePolicy},
	{"TestPolicyReads", TestPolicyReads},
	{"TestRegisterWithAuthKey", TestRegisterWithAuthKey},
	{"TestRegisterKeepsNodeFields", TestRegisterKeepsNodeFields},
	{"TestRegisterSingleUseKeyRace", TestRegisterSingleUseKeyRace},
	{"TestRegisterBatch", TestRegisterBatch},
	{"TestRegisterBatchSingleUseKeyRace", TestRegisterBatchSingleUseKeyRace},
	{"TestRegisterWithUser", TestRegisterWithUser},
	{"TestRegisterSuffixesTakenNames", TestRegisterSuffixesTakenNames},
	{"TestRegisterAtExpiryBoundary", TestRegisterAtExpiryBoundary},
	{"TestRelays", TestRelays},
	{"TestReleases", TestReleases},
	{"TestReleaseTargetChunks", TestReleaseTargetChunks},
	{"TestTargetChunksMigrationSplitsTargets", TestTargetChunksMigrationSplitsTargets},
	{"TestRevokeAndApproveNode", TestRevokeAndApproveNode},
	{"TestRegisterWithNewAuthKeyRekeysRevokedNode", TestRegisterWithNewAuthKeyRekeysRevokedNode},
	{"TestRotationRules", TestRotationRules},
	{"TestOpenTwiceAppliesMigrationsOnce", TestOpenTwiceAppliesMigrationsOnce},
	{"TestOpenRefusesNewerSchema", TestOpenRefusesNewerSchema},
	{"TestUpsertUser", TestUpsertUser},
	{"TestUpsertUserRecordsLastSecondFactor", TestUpsertUserRecordsLastSecondFactor},
	{"TestUserLookups", TestUserLookups},
	{"TestEmailBoundToOneUser", TestEmailBoundToOneUser},
	{"TestMigrateIssuer", TestMigrateIssuer},
	{"TestUserCheckSeesTheWrite", TestUserCheckSeesTheWrite},
	{"TestSingleUseKeyAcrossStores", TestSingleUseKeyAcrossStores},
	{"TestRebind", TestRebind},
	{"TestRefreshTokens", TestRefreshTokens},
	{"TestAdminSessions", TestAdminSessions},
	{"TestPendingLogins", TestPendingLogins},
	{"TestUseChallenge", TestUseChallenge},
	{"TestStreamHolds", TestStreamHolds},
	{"TestFlowLogStoreFiltersAndRetention", TestFlowLogStoreFiltersAndRetention},
	{"TestFlowStatsForTrafficBaselines", TestFlowStatsForTrafficBaselines},
	{"TestAuditChainAcrossStores", TestAuditChainAcrossStores},
	{"TestNodeRiskClass", TestNodeRiskClass},
	{"TestAccessRequestDecidedOnce", TestAccessRequestDecidedOnce},
	{"TestAlertsOpenAckResolve", TestAlertsOpenAckResolve},
	{"TestAlertNotifiedAndInhibitedKept", TestAlertNotifiedAndInhibitedKept},
	{"TestAlertRuleVersionsAppendOnly", TestAlertRuleVersionsAppendOnly},
	{"TestRolloutStateSurvivesReopen", TestRolloutStateSurvivesReopen},
	// PostgreSQL only (lower case: go test does not run them on SQLite).
	{"ChangesReachOtherStores", pgChangesReachOtherStores},
	{"MutedChangeReachedByPoll", pgMutedChangeReachedByPoll},
	{"OneStoreRunsEachJob", pgOneStoreRunsEachJob},
}

// sqliteOnly are the tests that do not run against PostgreSQL, and why.
var sqliteOnly = map[string]string{
	"TestDurableAfterKill":                        "kills a writer process mid-write and checks the SQLite file",
	"TestKillHelper":                              "the child process of TestDurableAfterKill",
	"TestMigrateKeyCreator":                       "upgrades a SQLite database from before migration 0003; no PostgreSQL database is that old",
	"TestAPIKeyScopesMigrationKeepsOldKeysRights": "upgrades a SQLite database from before migration 0013; the PostgreSQL migration adds the same column default",
	"TestOpenSetsPragmas":                         "SQLite pragmas",
	"TestOpenCreatesPrivateFile":                  "the SQLite file's mode",
	"TestOpenULA":                                 "opens data directories",
	"TestLoadMigrations":                          "reads migration files, no database",
	"TestStorageFaultsAreUnavailable":             "fills a SQLite file with PRAGMA max_page_count",
	"TestPostgres":                                "the runner itself",
	"TestSuiteListsEveryTest":                     "checks this file",
	"TestStmtCache":                               "the SQLite connections' statement cache (pgx keeps its own)",
	"TestStmtCacheNestedSameText":                 "the SQLite connections' statement cache",
	"TestStmtCacheStartsOver":                     "the SQLite connections' statement cache",
}

// TestPostgres runs the whole suite against PostgreSQL, each test on its
// own database.
func TestPostgres(t *testing.T) {
	for _, tc := range suite {
		t.Run(tc.name, tc.fn)
	}
}

// TestSuiteListsEveryTest: a test added to the package runs against both
// backends unless sqliteOnly says why not.
func TestSuiteListsEveryTest(t *testing.T) {
	files, err := filepath.Glob("*_test.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, f := range files {
		af, err := parser.ParseFile(fset, f, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range af.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Recv != nil || !strings.HasPrefix(fd.Name.Name, "Test") || fd.Name.Name == "TestMain" {
				continue
			}
			name := fd.Name.Name
			listed := slices.ContainsFunc(suite, func(s struct {
				name string
				fn   func(*testing.T)
			}) bool {
				return s.name == name
			})
			if _, only := sqliteOnly[name]; listed == only {
				t.Errorf("%s (%s): in suite %t, in sqliteOnly %t; want exactly one", name, f, listed, only)
			}
		}
	}
}
