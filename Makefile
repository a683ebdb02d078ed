GO ?= go
# sudo resets PATH; Go is usually in /usr/local/go.
export PATH := $(PATH):/usr/local/go/bin
BIN ?= kickstand

.PHONY: build test e2e demo fixtures clean bench

build:
	$(GO) build -o $(BIN) ./cmd/kickstand

# Everything CI runs: vet, staticcheck, unit/protocol tests, QEMU end-to-end (as root).
test:
	bash scripts/test.sh

e2e:
	bash scripts/deps.sh
	$(GO) test -tags e2e -count=1 -timeout 25m -v ./test/e2e/

# A BIOS machine in QEMU installs through kickstand; prints its timeline.
demo:
	bash scripts/deps.sh
	$(GO) test -tags e2e -count=1 -timeout 10m -v -run 'TestBIOSInstallFullDHCP$$' ./test/e2e/

fixtures:
	bash test/e2e/fixtures/build.sh .cache/e2e

# kickstand (HTTP from an ISO and from a directory, FTP) against nginx and vsftpd (as root).
bench:
	bash bench/run.sh

clean:
	rm -f $(BIN)
