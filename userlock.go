package main

import (
	"context"
	"errors"
	"fmt"

	"chatbx/internal/accounts"
	"chatbx/internal/admin"
)

// lockHandlers are the admin commands of restriction (GDPR Art. 18):
// `chatbx user lock NAME` locks an account as its user can on the
// account pages (no logins, no deliveries, data kept, sessions closed);
// `chatbx user unlock NAME` lifts it without the password, for a user who
// asked the operator; `chatbx user locked` lists the locked accounts.
func lockHandlers(domain string, acc *accounts.Service) map[string]admin.Handler {
	name := func(req admin.Request) (string, error) {
		if len(req.Args) != 1 {
			return "", errors.New("want exactly one user name")
		}
		return checkUsername(req.Args[0], domain, false, "")
	}
	return map[string]admin.Handler{
		"user lock": func(ctx context.Context, req admin.Request) (admin.Response, error) {
			u, err := name(req)
			if err != nil {
				return admin.Response{}, err
			}
			if err := acc.Lock(ctx, u); err != nil {
				return admin.Response{}, userError(u, cliError(err))
			}
			return admin.Response{Output: fmt.Sprintf("user %s locked: no logins, no deliveries, data kept\n", u)}, nil
		},
		"user unlock": func(ctx context.Context, req admin.Request) (admin.Response, error) {
			u, err := name(req)
			if err != nil {
				return admin.Response{}, err
			}
			if err := acc.UnlockByOperator(ctx, u); err != nil {
				return admin.Response{}, userError(u, cliError(err))
			}
			return admin.Response{Output: fmt.Sprintf("user %s unlocked\n", u)}, nil
		},
	}
}
