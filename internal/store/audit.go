package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// AuditEvent records one mutating call: who did what to which object, when and from where.
type AuditEvent struct {
	ID         int64           `json:"id"`
	Time       time.Time       `json:"time"`
	OrgID      *int64          `json:"org_id,omitempty"`
	Org        string          `json:"org,omitempty"` // the organisation's slug, when listed
	ActorID    *int64          `json:"actor_id,omitempty"`
	Actor      string          `json:"actor"`
	Action     string          `json:"action"`
	ObjectType string          `json:"object_type"`
	ObjectID   string          `json:"object_id"`
	Source     string          `json:"source"`
	RequestID  string          `json:"request_id"`
	Details    json.RawMessage `json:"details"`
}

// AuditFilter selects audit events. Zero fields match everything. Events are listed newest
// first: Before is the cursor (only ids below it).
type AuditFilter struct {
	OrgIDs     []int64 // match events of these organisations...
	OrActorID  int64   // ...or events by this actor (for what a non-admin may see)
	AllOrgs    bool    // no organisation restriction (site admins)
	Actor      string
	Action     string // exact, or a prefix ending in "." (for example "user.")
	ObjectType string
	ObjectID   string
	Since      time.Time
	Until      time.Time
	Before     int64
	Limit      int
}

// AppendAudit adds an event to the audit log. Call it in the transaction of the change it
// records, so that the change and its record commit together.
func (tx *Tx) AppendAudit(ctx context.Context, e AuditEvent) (AuditEvent, error) {
	if len(e.Details) == 0 {
		e.Details = json.RawMessage(`{}`)
	}
	if e.Time.IsZero() {
		e.Time = Now()
	}
	e.Time = e.Time.UTC().Truncate(time.Microsecond)
	err := tx.queryRow(ctx,
		`INSERT INTO audit_events (time, org_id, actor_id, actor, action, object_type, object_id, source, request_id, details)
		 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id`,
		e.Time, e.OrgID, e.ActorID, e.Actor, e.Action, e.ObjectType, e.ObjectID, e.Source, e.RequestID, string(e.Details)).Scan(&e.ID)
	if err != nil {
		return AuditEvent{}, fmt.Errorf("append audit event %s: %w", e.Action, err)
	}
	return e, nil
}

// ListAudit lists audit events, newest first.
func (r Reader) ListAudit(ctx context.Context, f AuditFilter) ([]AuditEvent, error) {
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if !f.AllOrgs {
		var scope []string
		if len(f.OrgIDs) > 0 {
			ids := make([]string, len(f.OrgIDs))
			for i, id := range f.OrgIDs {
				ids[i] = arg(id)
			}
			scope = append(scope, "a.org_id IN ("+strings.Join(ids, ", ")+")")
		}
		if f.OrActorID > 0 {
			scope = append(scope, "a.actor_id = "+arg(f.OrActorID))
		}
		if len(scope) == 0 {
			return nil, nil
		}
		where = append(where, "("+strings.Join(scope, " OR ")+")")
	}
	if f.Actor != "" {
		where = append(where, "a.actor = "+arg(f.Actor))
	}
	if strings.HasSuffix(f.Action, ".") {
		// A prefix match that LIKE's wildcards in the value cannot widen.
		where = append(where, "substr(a.action, 1, "+arg(len(f.Action))+") = "+arg(f.Action))
	} else if f.Action != "" {
		where = append(where, "a.action = "+arg(f.Action))
	}
	if f.ObjectType != "" {
		where = append(where, "a.object_type = "+arg(f.ObjectType))
	}
	if f.ObjectID != "" {
		where = append(where, "a.object_id = "+arg(f.ObjectID))
	}
	if !f.Since.IsZero() {
		where = append(where, "a.time >= "+arg(f.Since.UTC()))
	}
	if !f.Until.IsZero() {
		where = append(where, "a.time < "+arg(f.Until.UTC()))
	}
	if f.Before > 0 {
		where = append(where, "a.id < "+arg(f.Before))
	}
	q := `SELECT a.id, a.time, a.org_id, COALESCE(o.slug, ''), a.actor_id, a.actor, a.action, a.object_type, a.object_id,
	      a.source, a.request_id, a.details FROM audit_events a LEFT JOIN orgs o ON o.id = a.org_id`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY a.id DESC LIMIT " + arg(f.Limit)
	rows, err := r.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list audit events: %w", err)
	}
	defer rows.Close()
	var out []AuditEvent
	for rows.Next() {
		var e AuditEvent
		var details string
		if err := rows.Scan(&e.ID, &e.Time, &e.OrgID, &e.Org, &e.ActorID, &e.Actor, &e.Action, &e.ObjectType,
			&e.ObjectID, &e.Source, &e.RequestID, &details); err != nil {
			return nil, fmt.Errorf("list audit events: %w", err)
		}
		e.Details = json.RawMessage(details)
		out = append(out, e)
	}
	return out, rows.Err()
}
