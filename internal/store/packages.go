package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"
)

// PackageVersion is one version of one package for one architecture, as machines report it.
type PackageVersion struct {
	ID      uint32
	Name    string
	Version string
	Arch    string
}

// PackageVersionIDs returns the ids of pvs (in their order), adding those the database does
// not know yet. known gives ids the caller has cached; only the others are looked up.
func (tx *Tx) PackageVersionIDs(ctx context.Context, pvs []PackageVersion, known func(PackageVersion) (uint32, bool)) ([]uint32, []PackageVersion, error) {
	ids := make([]uint32, len(pvs))
	var added []PackageVersion
	for i, p := range pvs {
		if id, ok := known(p); ok {
			ids[i] = id
			continue
		}
		var id int64
		err := tx.queryRow(ctx, `SELECT id FROM package_versions WHERE name = $1 AND version = $2 AND arch = $3`, p.Name, p.Version, p.Arch).Scan(&id)
		if errors.Is(mapErr(err), ErrNotFound) {
			err = tx.queryRow(ctx, `INSERT INTO package_versions (name, version, arch) VALUES ($1, $2, $3)
				ON CONFLICT (name, version, arch) DO UPDATE SET name = excluded.name RETURNING id`, p.Name, p.Version, p.Arch).Scan(&id)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("package version %s %s: %w", p.Name, p.Version, err)
		}
		if id > 1<<32-1 {
			return nil, nil, fmt.Errorf("package version ids exhausted")
		}
		ids[i] = uint32(id)
		p.ID = uint32(id)
		added = append(added, p)
	}
	return ids, added, nil
}

// PackageVersions calls fn for every package version with an id above after, in id order.
func (r Reader) PackageVersions(ctx context.Context, after uint32, fn func(PackageVersion) error) error {
	rows, err := r.query(ctx, `SELECT id, name, version, arch FROM package_versions WHERE id > $1 ORDER BY id`, int64(after))
	if err != nil {
		return fmt.Errorf("package versions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var p PackageVersion
		var id int64
		if err := rows.Scan(&id, &p.Name, &p.Version, &p.Arch); err != nil {
			return fmt.Errorf("package versions: %w", err)
		}
		p.ID = uint32(id)
		if err := fn(p); err != nil {
			return err
		}
	}
	return rows.Err()
}

// EncodePVs packs ascending package version ids: the first id, then the gaps, as uvarints.
func EncodePVs(ids []uint32) []byte {
	b := make([]byte, 0, len(ids)*2)
	var prev uint32
	for _, id := range ids {
		b = binary.AppendUvarint(b, uint64(id-prev))
		prev = id
	}
	return b
}

// DecodePVs unpacks what EncodePVs packed, appending to dst.
func DecodePVs(b []byte, dst []uint32) ([]uint32, error) {
	var prev uint32
	for len(b) > 0 {
		d, n := binary.Uvarint(b)
		if n <= 0 || d > 1<<32-1 {
			return dst, errors.New("package version list is corrupt")
		}
		prev += uint32(d)
		dst = append(dst, prev)
		b = b[n:]
	}
	return dst, nil
}

// SetInventoryPVs stores an inventory's package version ids.
func (tx *Tx) SetInventoryPVs(ctx context.Context, hash string, ids []uint32) error {
	if _, err := tx.exec(ctx, `UPDATE inventories SET pvs = $2 WHERE hash = $1`, hash, EncodePVs(ids)); err != nil {
		return fmt.Errorf("inventory %s: package versions: %w", hash, err)
	}
	return nil
}

// FleetComputer is what the applicability engine needs of a computer.
type FleetComputer struct {
	ID            int64
	OrgID         int64
	OSID          string
	OSVersion     string
	Arch          string
	Languages     []string
	InventoryHash string
	InventoryAt   *time.Time
	PVs           []byte // EncodePVs form; nil when not computed yet
	Inventory     []byte // the compressed inventory, only when PVs is nil
}

// FleetComputers calls fn for every active computer with an inventory whose inventory
// changed after since (all when since is zero), in id order. Every stored inventory sets
// inventory_at, so the index on it serves the frequent polls.
func (r Reader) FleetComputers(ctx context.Context, since time.Time, fn func(FleetComputer) error) error {
	rows, err := r.query(ctx, `SELECT c.id, c.org_id, c.os_id, c.os_version, c.arch, c.languages, c.inventory_hash, c.inventory_at, i.pvs,
		CASE WHEN i.pvs IS NULL THEN i.data END
		FROM computers c JOIN inventories i ON i.hash = c.inventory_hash
		WHERE c.revoked_at IS NULL AND c.inventory_at > $1 ORDER BY c.id`, since.UTC())
	if err != nil {
		return fmt.Errorf("fleet: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var c FleetComputer
		var langs string
		if err := rows.Scan(&c.ID, &c.OrgID, &c.OSID, &c.OSVersion, &c.Arch, &langs, &c.InventoryHash, &c.InventoryAt, &c.PVs, &c.Inventory); err != nil {
			return fmt.Errorf("fleet: %w", err)
		}
		if langs != "" {
			c.Languages = strings.Split(langs, ",")
		}
		if err := fn(c); err != nil {
			return err
		}
	}
	return rows.Err()
}

// InventoryPVs returns a stored inventory's package version ids (nil when not computed).
func (r Reader) InventoryPVs(ctx context.Context, hash string) ([]uint32, error) {
	var b []byte
	if err := r.queryRow(ctx, `SELECT pvs FROM inventories WHERE hash = $1`, hash).Scan(&b); err != nil {
		return nil, fmt.Errorf("inventory %s: %w", hash, mapErr(err))
	}
	if b == nil {
		return nil, nil
	}
	return DecodePVs(b, nil)
}
