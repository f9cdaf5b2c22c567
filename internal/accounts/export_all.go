package accounts

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
)

// ExportAll writes every account as one XEP-0227 document to w (the
// operator's `chatbx user export --all`): for each user the same <user/>
// element as Export's account.xml, SCRAM verifiers included, so that
// importing the document elsewhere keeps everyone's password (package
// internal/migrate reads it). Archives, uploads and PEP data are not
// part of it. Accounts deleted while it runs are left out. It returns the
// number of accounts written; on an error w holds a partial document.
func (s *Service) ExportAll(ctx context.Context, w io.Writer) (int, error) {
	if s.cfg.Domain == "" {
		return 0, ErrNoDomain
	}
	users, err := s.d.Store.Users(ctx)
	if err != nil {
		return 0, fmt.Errorf("accounts: export all: %w", err)
	}
	slices.Sort(users)
	b := bufio.NewWriter(w)
	b.WriteString(xmlHead(s.cfg.Domain))
	n := 0
	for _, u := range users {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		err := s.writeUser(ctx, b, u)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return n, err
		}
		n++
	}
	b.WriteString(xmlTail)
	return n, b.Flush()
}
