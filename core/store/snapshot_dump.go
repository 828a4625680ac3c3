package store

import "context"

// SnapshotTreeSize returns the total size of the files at or below dir in a
// listing ("/" for the whole snapshot), and how many entries that is: what
// a download of the folder holds before archive overhead. It reads the
// listing's key range of dir's subtree only.
func (db *DB) SnapshotTreeSize(ctx context.Context, listingID int64, dir string) (size, entries int64, err error) {
	prefix := dir + "/"
	if dir == "/" {
		prefix = "/"
	}
	// Every parent inside the subtree is dir itself or starts with
	// prefix; prefix followed by the highest byte bounds the range.
	err = db.r.QueryRowContext(ctx, `SELECT COALESCE(SUM(CASE WHEN type = 'file' THEN size ELSE 0 END), 0), COUNT(*)
		FROM snapshot_nodes WHERE listing_id = ? AND (parent = ? OR (parent >= ? AND parent < ?))`,
		listingID, dir, prefix, prefix+"\xff").Scan(&size, &entries)
	return size, entries, err
}
