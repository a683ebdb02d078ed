//go:build !linux

package doctor

import "errors"

var errNotLinux = errors.New("only known on Linux")

func readLabel(string) (string, error) { return "", errNotLinux }

func freeSpace(string) (uint64, error) { return 0, errNotLinux }
