package compliance

import (
	"encoding/json"
	"fmt"

	"github.com/klauspost/compress/zstd"

	"github.com/patchday/patchday/internal/protocol"
)

var (
	zstdEnc, _ = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1))
	zstdDec, _ = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(64<<20))
)

// EncodeInventory is the stored form of an inventory: its JSON, zstd-compressed (a 1,500
// package inventory of ~100 KiB becomes ~15 KiB).
func EncodeInventory(inv *protocol.Inventory) ([]byte, error) {
	b, err := json.Marshal(inv)
	if err != nil {
		return nil, err
	}
	return zstdEnc.EncodeAll(b, make([]byte, 0, len(b)/4)), nil
}

// DecodeInventory reads what EncodeInventory wrote.
func DecodeInventory(b []byte) (protocol.Inventory, error) {
	raw, err := zstdDec.DecodeAll(b, nil)
	if err != nil {
		return protocol.Inventory{}, fmt.Errorf("inventory: %w", err)
	}
	var inv protocol.Inventory
	if err := json.Unmarshal(raw, &inv); err != nil {
		return protocol.Inventory{}, fmt.Errorf("inventory: %w", err)
	}
	return inv, nil
}
