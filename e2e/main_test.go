package e2e

import (
	"os"
	"testing"

	"github.com/wardnet/ward/internal/pgtest"
)

// TestMain serves the replica tests a PostgreSQL server (started on the
// first pgtest.NewDB).
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
