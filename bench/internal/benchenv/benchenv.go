// Package benchenv holds what the benchmark programs share about the
// machine they run on and the programs they measure: the load average
// reported beside every figure, and building a program of this repository.
package benchenv

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// LoadAverage is the 1, 5 and 15 minute load averages of /proc/loadavg
// joined by sep, or "" when they cannot be read.
func LoadAverage(sep string) string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], sep)
}

// Program is the binary at path when path is set (a benchmark's flag), else
// pkg built into dir (Build).
func Program(ctx context.Context, path, dir, pkg string) (string, error) {
	if path != "" {
		return path, nil
	}
	return Build(ctx, dir, pkg)
}

// Build compiles the program in pkg (for example ./cmd/evaluator, relative
// to the repository's top folder, where benchmarks run) into dir and
// returns the binary's path.
func Build(ctx context.Context, dir, pkg string) (string, error) {
	out := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build %s (run the benchmark from the repository's top folder): %w\n%s", pkg, err, stderr.String())
	}
	return out, nil
}
