package upload

import (
	"context"
	"errors"
	"fmt"
)

// userTrash is the store's deletion of a user's own uploads (*store.DB).
type userTrash interface {
	TrashUserUploads(ctx context.Context, user string, ids []string) (int, error)
}

// DeleteUserFiles deletes the uploads ids of user (the account pages'
// upload list) as an account deletion does: the records move to the trash
// in one store transaction, then the files are unlinked and the database
// scrubbed, so that the file names are unreadable in it at once (a crash
// in between is finished by the retention sweep). Ids of other users'
// uploads are ignored. It returns how many uploads were deleted.
func (u *Uploads) DeleteUserFiles(ctx context.Context, user string, ids []string) (int, error) {
	t, ok := u.db.(userTrash)
	if !ok {
		return 0, errors.New("upload: the store cannot delete a user's uploads")
	}
	n, err := t.TrashUserUploads(ctx, user, ids)
	if err != nil {
		return 0, fmt.Errorf("upload: delete user files: %w", err)
	}
	if n == 0 {
		return 0, nil
	}
	return n, u.UnlinkDeleted(context.WithoutCancel(ctx))
}
