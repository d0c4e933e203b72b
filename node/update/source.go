package update

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/wardnet/ward/wire"
)

// Coordinator is the coordinator as the updater reaches it, with the
// node's control session (control.Client implements it).
type Coordinator interface {
	// GetTUF fetches wire.PathTUF+rel ("metadata/timestamp.json",
	// "targets/ward/…"); offset > 0 asks for the bytes from offset on
	// (Range). It returns a 2xx answer, whose body the caller closes, or
	// an error (an *apicall.Error for a refusal, RetryAfter set for 503).
	GetTUF(ctx context.Context, rel string, offset int64) (*http.Response, error)
	// UpdateAssignment asks which update to run now; nil when none.
	UpdateAssignment(ctx context.Context) (*wire.UpdateAssignment, error)
	// UpdateReport posts a step of an update.
	UpdateReport(ctx context.Context, r wire.UpdateReport) error
}

// metaBase is the prefix of go-tuf's metadata URLs; tufFetcher strips it.
const metaBase = "ward-tuf:/metadata/"

// metadataTimeout bounds the fetch of one metadata file.
const metadataTimeout = time.Minute

// tufFetcher is go-tuf's Fetcher over a Coordinator: go-tuf asks for
// metaBase+name and a length limit.
type tufFetcher struct {
	ctx context.Context
	src Coordinator
}

// DownloadFile implements fetcher.Fetcher: it reads at most maxLength
// bytes and refuses more (endless data).
func (f tufFetcher) DownloadFile(urlPath string, maxLength int64, _ time.Duration) ([]byte, error) {
	name, ok := strings.CutPrefix(urlPath, metaBase)
	if !ok {
		return nil, fmt.Errorf("fetch %s: not a metadata url", urlPath)
	}
	ctx, cancel := context.WithTimeout(f.ctx, metadataTimeout)
	defer cancel()
	resp, err := f.src.GetTUF(ctx, "metadata/"+name, 0)
	if err != nil {
		if isStatus(err, http.StatusNotFound) {
			// go-tuf ends its walk of new root versions on a 404
			return nil, &metadata.ErrDownloadHTTP{StatusCode: http.StatusNotFound, URL: urlPath}
		}
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxLength+1))
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", name, err)
	}
	if int64(len(b)) > maxLength {
		return nil, &metadata.ErrDownloadLengthMismatch{Msg: fmt.Sprintf("%s is longer than %d bytes", name, maxLength)}
	}
	return b, nil
}
