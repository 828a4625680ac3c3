package store

import (
	"context"
	"database/sql"
	"strings"
	"time"
)

// JobLog is one event of a job as the agent sent it: (JobID, Seq) is unique,
// and storing the same pair twice keeps the first.
type JobLog struct {
	JobID  string
	Seq    int64
	Time   time.Time
	Stream string // stdout, stderr, event
	Type   string // log, progress, summary, error, status
	Line   string
}

// logBatchRows is how many rows one INSERT statement carries; SQLite allows
// 32766 bound parameters, six per row.
const logBatchRows = 500

// AppendJobLogs stores a batch of events in one transaction and raises each
// job's last_seq. Events already stored (a resend after a reconnect) are
// ignored. It returns how many rows were new.
func (db *DB) AppendJobLogs(ctx context.Context, logs []JobLog) (int64, error) {
	if len(logs) == 0 {
		return 0, nil
	}
	var inserted int64
	err := db.tx(ctx, func(tx *sql.Tx) error {
		lastSeq := map[string]int64{}
		for start := 0; start < len(logs); start += logBatchRows {
			chunk := logs[start:min(start+logBatchRows, len(logs))]
			var q strings.Builder
			q.WriteString(`INSERT OR IGNORE INTO job_logs (job_id, seq, time, stream, type, line) VALUES `)
			args := make([]any, 0, len(chunk)*6)
			for i, l := range chunk {
				if i > 0 {
					q.WriteByte(',')
				}
				q.WriteString("(?,?,?,?,?,?)")
				args = append(args, l.JobID, l.Seq, ms(l.Time), l.Stream, l.Type, l.Line)
				if l.Seq > lastSeq[l.JobID] {
					lastSeq[l.JobID] = l.Seq
				}
			}
			res, err := tx.ExecContext(ctx, q.String(), args...)
			if err != nil {
				return mapErr(err)
			}
			n, _ := res.RowsAffected()
			inserted += n
		}
		for id, seq := range lastSeq {
			if _, err := tx.ExecContext(ctx, `UPDATE jobs SET last_seq = max(last_seq, ?) WHERE id = ?`, seq, id); err != nil {
				return err
			}
		}
		return nil
	})
	return inserted, err
}

// JobLogs returns up to limit events of a job after afterSeq, in order.
func (db *DB) JobLogs(ctx context.Context, jobID string, afterSeq int64, limit int) ([]JobLog, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT job_id, seq, time, stream, type, line FROM job_logs
		WHERE job_id = ? AND seq > ? ORDER BY seq LIMIT ?`, jobID, afterSeq, max(limit, 1))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []JobLog
	for rows.Next() {
		var l JobLog
		var t int64
		if err := rows.Scan(&l.JobID, &l.Seq, &t, &l.Stream, &l.Type, &l.Line); err != nil {
			return nil, err
		}
		l.Time = fromMS(t)
		out = append(out, l)
	}
	return out, rows.Err()
}
