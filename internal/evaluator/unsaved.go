package evaluator

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/lagwatch/lagwatch/internal/notify"
)

// unsaved are the incidents this evaluator changed, by sending their alert,
// but could not save: the incident store refused the write (a write block,
// a revoked privilege, an outage of the index). An alert is sent whether or
// not its claim could be saved, so that on-call hears of it; remembering
// what was sent keeps the next run from sending it again.
//
// Each is kept as it would have been saved, with the Version of the stored
// incident it was decided from. While the store still holds that version,
// a run takes the remembered incident for the stored one (overlay) and
// saves it at the first chance; once the store holds another version,
// another evaluator has written the incident meanwhile, and the store's
// version stands (the remembered one is forgotten).
//
// With a file (EVALUATOR_STATE_FILE), they outlive the process: the next
// --once run, or a restart, reads them back. Without one they live in
// memory, which is enough in schedule mode.
type unsaved struct {
	mu   sync.Mutex
	incs map[notify.GroupKey]notify.Incident
	file string // "" for memory only
	// loaded: the file was read; dirty: incs changed since it was written.
	loaded, dirty bool
}

// stateFormat marks the state file's layout.
const stateFormat = 1

type stateFile struct {
	Format int `json:"lagwatch_evaluator_state"`
	// Unsaved are the incidents whose alert was sent but whose save the
	// store refused, with the Version they were decided from.
	Unsaved []notify.Incident `json:"unsaved_incidents"`
}

// newUnsaved keeps unsaved incidents in memory and, when file is not "",
// in file, which load reads first.
func newUnsaved(file string) *unsaved {
	return &unsaved{incs: map[notify.GroupKey]notify.Incident{}, file: file}
}

// load reads, once, the incidents a previous process left in the file (none
// when there is no file or it does not exist yet).
func (u *unsaved) load() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.file == "" || u.loaded {
		return nil
	}
	b, err := os.ReadFile(u.file)
	if errors.Is(err, fs.ErrNotExist) {
		u.loaded = true
		return nil
	}
	if err != nil {
		return err
	}
	var st stateFile
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("read %s: %w", u.file, err)
	}
	if st.Format != stateFormat {
		return fmt.Errorf("%s is not an evaluator state file of format %d", u.file, stateFormat)
	}
	for _, inc := range st.Unsaved {
		u.incs[inc.Key()] = inc
	}
	u.loaded = true
	return nil
}

// overlay replaces, in loaded (the store's incidents), those this evaluator
// changed and could not save, as long as the store still holds the version
// they were decided from; it forgets the others, and returns how many it
// forgot.
func (u *unsaved) overlay(loaded map[notify.GroupKey]notify.Incident) (forgotten int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for k, inc := range u.incs {
		if loaded[k].Version == inc.Version {
			loaded[k] = inc
			continue
		}
		delete(u.incs, k)
		u.dirty = true
		forgotten++
	}
	return forgotten
}

// remember keeps inc, which the store refused: its Version is that of the
// stored incident it was decided from.
func (u *unsaved) remember(inc notify.Incident) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.incs[inc.Key()] = inc
	u.dirty = true
}

// forget drops the incident of key: it was saved, or the store moved on.
func (u *unsaved) forget(key notify.GroupKey) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if _, ok := u.incs[key]; ok {
		delete(u.incs, key)
		u.dirty = true
	}
}

// has reports whether key's incident waits to be saved.
func (u *unsaved) has(key notify.GroupKey) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	_, ok := u.incs[key]
	return ok
}

// len is the number of incidents waiting to be saved.
func (u *unsaved) len() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.incs)
}

// flush writes the file, when there is one and something changed, through a
// temporary file renamed into place.
func (u *unsaved) flush() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.file == "" || !u.dirty {
		return nil
	}
	st := stateFile{Format: stateFormat}
	for _, k := range slices.SortedFunc(maps.Keys(u.incs), func(a, b notify.GroupKey) int {
		return cmp.Or(cmp.Compare(a.Cluster, b.Cluster), cmp.Compare(a.Group, b.Group))
	}) {
		st.Unsaved = append(st.Unsaved, u.incs[k])
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(u.file), ".lagwatch-state-*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(append(b, '\n'))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), u.file)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return err
	}
	u.dirty = false
	return nil
}
