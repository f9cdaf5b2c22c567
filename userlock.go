package main

import (
	"context"
	"errors"
	"fmt"

	"chatbx/internal/accounts"
)

// lockHandlers are the admin commands of restriction (GDPR Art. 18):
// `chatbx user lock NAME` locks an account as its user can on the
// account pages (no logins, no deliveries, data kept, sessions closed);
// `chatbx user unlock NAME` lifts it without the password, for a user who
// asked the operator; `chatbx user locked` lists the locked accounts.
func lockHandlers(domain string, acc *accounts.Service) map[string]adminHandler {
	name := func(req adminRequest) (string, error) {
		if len(req.Args) != 1 {
			return "", errors.New("want exactly one user name")
		}
		return checkUsername(req.Args[0], domain, false, "")
	}
	return map[string]adminHandler{
		"user lock": func(ctx context.Context, req adminRequest) (adminResponse, error) {
			u, err := name(req)
			if err != nil {
				return adminResponse{}, err
			}
			if err := acc.Lock(ctx, u); err != nil {
				return adminResponse{}, userError(u, cliError(err))
			}
			return adminResponse{Output: fmt.Sprintf("user %s locked: no logins, no deliveries, data kept\n", u)}, nil
		},
		"user unlock": func(ctx context.Context, req adminRequest) (adminResponse, error) {
			u, err := name(req)
			if err != nil {
				return adminResponse{}, err
			}
			if err := acc.UnlockByOperator(ctx, u); err != nil {
				return adminResponse{}, userError(u, cliError(err))
			}
			return adminResponse{Output: fmt.Sprintf("user %s unlocked\n", u)}, nil
		},
	}
}
