#!/bin/bash
# tests/kernel/link.sh: `weft link` driving the Linux kernel's WireGuard
# module (generic netlink), inside the kernel VM (run it with
# tests/kernel/vm-run, which tests/net/98-kernel-link.sh does): the cases of
# tests/net/89-link.sh with peer a on a kernel interface, its peers on
# wireguard-go and weftd.
[[ -n ${WEFT_VM_RELEASE:-} ]] || { echo "FAIL: kernel-link/vm: runs inside the kernel VM: tests/kernel/vm-run $0"; exit 1; }
LINK_A_KIND=kernel LINK_TEST_NAME=kernel-link exec "$(dirname "$0")/../net/89-link.sh"
