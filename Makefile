GO ?= go
# sudo resets PATH; Go is usually in /usr/local/go.
export PATH := $(PATH):/usr/local/go/bin
BIN ?= kickstand

.PHONY: build package test e2e demo fixtures clean bench bench-http bench-dhcp bench-tftp bench-storm

# -buildvcs=auto (over a GOFLAGS that turns it off) stamps the commit that
# kickstand version prints.
build:
	$(GO) build -buildvcs=auto -o $(BIN) ./cmd/kickstand

# dist/kickstand_*.deb and dist/kickstand-*.rpm: binary, systemd unit,
# /etc/kickstand/kickstand.yaml, manual pages, completions.
package:
	bash scripts/package.sh

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
	sh test/e2e/fixtures/loader-rpms.sh .cache/e2e

# Every benchmark, one after the other (as root; about an hour on 2 CPUs); results in bench/results/.
bench: bench-http bench-dhcp bench-tftp bench-storm

# kickstand (HTTP from an ISO and from a directory, FTP) against nginx and vsftpd.
bench-http:
	bash bench/run.sh

# DHCP DORA at rising rates (perfdhcp) against Kea and dnsmasq.
bench-dhcp:
	bash bench/dhcp.sh

# TFTP lock-step, windowed and 200 clients at once against atftpd and dnsmasq.
bench-tftp:
	bash bench/tftp.sh

# 100 and 500 machines network-installing at once, against dnsmasq + nginx.
bench-storm:
	bash bench/storm.sh

clean:
	rm -f $(BIN)
	rm -rf dist
