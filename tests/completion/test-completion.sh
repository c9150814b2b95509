#!/bin/bash
# The bash completion (completion/ivshmem.bash) driven as bash drives it:
# COMP_LINE and COMP_POINT set, _ivshmem called, COMPREPLY read, against
# the built CLI, a fake sysfs tree, a file region with channels and topics,
# and a live server socket.
#
#   test-completion.sh BUILD_DIR SOURCE_DIR
set -u
BUILD=${1:?build dir}
SRC=${2:?source dir}
COMPLETION=$(cd "$SRC" && pwd)/completion/ivshmem.bash
T=$(mktemp -d /tmp/ivshmem-completion.XXXXXX)
SERVER=
trap '[ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null; wait; rm -rf "$T"' EXIT
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); echo "not ok $n - $1"; [ -n "${2:-}" ] && printf '%s\n' "$2" | sed 's/^/#   /'; }
setup_failed() { echo "not ok 1 - setup: $1"; echo "1..1"; exit 1; }

# "ivshmem" on PATH is the built CLI
mkdir -p "$T/bin" && ln -s "$(cd "$BUILD" && pwd)/src/cli/ivshmem" "$T/bin/ivshmem" || setup_failed "bin"
export PATH="$T/bin:$PATH"

# complete LINE: the replies, sorted, one per line, for the cursor at the
# end of LINE (bash's default word breaks, ":" among them)
cat >"$T/drive.bash" <<'DRIVE'
# drive.bash COMPLETION LINE: what bash would offer at the end of LINE
source "$1" || exit 1
COMP_WORDBREAKS=$' \t\n"\'@><=;|&(:'
COMP_LINE=$2
COMP_POINT=${#2}
_ivshmem
printf '%s\n' "${COMPREPLY[@]}"
DRIVE
complete_line() {
	bash --norc --noprofile "$T/drive.bash" "$COMPLETION" "$1" | sed '/^$/d' | sort
}
# expect NAME LINE WORD...: the replies are exactly WORD...
expect() {
	local name=$1 line=$2 got want; shift 2
	got=$(complete_line "$line")
	want=$(printf '%s\n' "$@" | sed '/^$/d' | sort)
	if [ "$got" = "$want" ]; then ok "$name"; else nok "$name" "'$line<TAB>' gave: $(echo $got); want: $(echo $want)"; fi
}
# includes NAME LINE WORD...: the replies include every WORD
includes() {
	local name=$1 line=$2 got w miss=; shift 2
	got=$(complete_line "$line")
	for w in "$@"; do grep -qxF -- "$w" <<<"$got" || miss="$miss $w"; done
	if [ -z "$miss" ]; then ok "$name"; else nok "$name" "'$line<TAB>' lacks:$miss (gave: $(echo $got | cut -c1-300))"; fi
}

bash -n "$COMPLETION" && ok "completion/ivshmem.bash parses" || nok "completion/ivshmem.bash parses"

# commands and subcommands, from the CLI's --help
cmds=$(ivshmem --help | sed -n '/^commands:/,/^$/s/^  \([a-z][a-z]*\) .*/\1/p')
[ -n "$cmds" ] || setup_failed "ivshmem --help lists no commands"
expect "ivshmem <TAB>: every command" "ivshmem " $cmds --help --version
expect "ivshmem to<TAB>: topic" "ivshmem to" topic
expect "ivshmem chan <TAB>: its subcommands" "ivshmem chan " init list create send recv stat delete
expect "ivshmem topic <TAB>: its subcommands" "ivshmem topic " create pub sub stat
expect "ivshmem bench <TAB>: its benchmarks" "ivshmem bench " doorbell chan topic daemon mode

# options, and their values
includes "ivshmem server --<TAB>: its long options" "ivshmem server --" \
	--socket-mode --socket-owner --socket-group --max-peers --greeting-timeout --ids --json-log --shm-reuse
includes "ivshmem server -<TAB>: its short options" "ivshmem server -" -S -M -m -l -n -F -p -v
includes "ivshmem topic sub DEV NAME --<TAB>: its options and the common ones" "ivshmem topic sub file:/x t --" \
	--count --timeout --from --read-only --backend --cache --json
expect "--mode <TAB>: the choices the usage names" "ivshmem topic create file:/x t --mode " lossless latest
expect "--from o<TAB>" "ivshmem topic sub file:/x t --from o" oldest
expect "--ids <TAB>" "ivshmem server --ids " next lowest
expect "--backend <TAB>" "ivshmem info file:/x --backend " vfio sysfs file
expect "--cache w<TAB>" "ivshmem read auto --cache w" wc wb
includes "daemon --allow-group <TAB>: groups" "ivshmem daemon auto --allow-group " root
includes "daemon --ring-user ro<TAB>: users" "ivshmem daemon auto --ring-user ro" root
expect "--timeout <TAB>: a number, nothing to offer" "ivshmem wait auto 0 --timeout "

# DEV: auto, IVSHMEM devices of (fake) sysfs, the kinds with paths
mkdir -p "$T/sys/bus/pci/devices/0000:00:04.0" "$T/sys/bus/pci/devices/0000:00:05.0" "$T/sys/bus/pci/drivers/vfio-pci" \
	"$T/sys/bus/pci/drivers/e1000" || setup_failed "fake sysfs"
echo 0x1af4 >"$T/sys/bus/pci/devices/0000:00:04.0/vendor"
echo 0x1110 >"$T/sys/bus/pci/devices/0000:00:04.0/device"
echo 0x8086 >"$T/sys/bus/pci/devices/0000:00:05.0/vendor" # not IVSHMEM
echo 0x100e >"$T/sys/bus/pci/devices/0000:00:05.0/device"
export IVSHMEM_SYSFS_ROOT=$T/sys
expect "info <TAB>: auto, the IVSHMEM device, the kinds" "ivshmem info " auto 0000:00:04.0 file: server: daemon:
expect "bind 0000<TAB>: only the IVSHMEM device" "ivshmem bind 0000" 0000:00:04.0
expect "bind DEV <TAB>: drivers" "ivshmem bind 0000:00:04.0 " vfio-pci e1000
expect "info fi<TAB>: file: (bash keeps the word going)" "ivshmem info fi" file:

mkdir -p "$T/dir/sub" || setup_failed "dir"
head -c 1048576 /dev/zero >"$T/dir/region" || setup_failed "region"
# after "file:" bash replaces only what follows the colon
expect "info file:DIR/r<TAB>: the file" "ivshmem info file:$T/dir/r" "$T/dir/region"
expect "info file:DIR/<TAB>: files and directories" "ivshmem info file:$T/dir/" "$T/dir/region" "$T/dir/sub/"
expect "chan list fi<TAB>" "ivshmem chan list fi" file:
expect "daemon --config DIR/r<TAB>: a file" "ivshmem daemon auto --config $T/dir/r" "$T/dir/region"
expect "server -m DIR/<TAB>: directories" "ivshmem server -m $T/dir/" "$T/dir/sub"

# NAME: the channels and topics of the region
ivshmem chan init "file:$T/dir/region" >/dev/null 2>&1 &&
	ivshmem chan create "file:$T/dir/region" ctl >/dev/null 2>&1 &&
	ivshmem chan create "file:$T/dir/region" cmds >/dev/null 2>&1 &&
	ivshmem topic create "file:$T/dir/region" telemetry >/dev/null 2>&1 || setup_failed "channels in $T/dir/region"
expect "chan recv DEV <TAB>: its channels and topics" "ivshmem chan recv file:$T/dir/region " ctl cmds telemetry
expect "chan send DEV c<TAB>" "ivshmem chan send file:$T/dir/region c" ctl cmds
expect "chan recv --count 3 DEV <TAB>: an option's value is no operand" \
	"ivshmem chan recv --count 3 file:$T/dir/region t" telemetry
expect "topic stat DEV t<TAB>" "ivshmem topic stat file:$T/dir/region t" telemetry
expect "chan create DEV <TAB>: a new name, nothing to offer" "ivshmem chan create file:$T/dir/region "

# A name from the shared memory is data: another VM may write it.  One
# that reads as a command substitution is offered quoted and never run;
# one with a blank is one word
head -c 65536 /dev/zero >"$T/dir/hostile" && ivshmem chan init "file:$T/dir/hostile" >/dev/null &&
	ivshmem chan create "file:$T/dir/hostile" '$(touch${IFS}pwned)' >/dev/null &&
	ivshmem chan create "file:$T/dir/hostile" 'a b' >/dev/null || setup_failed "channels in $T/dir/hostile"
mkdir -p "$T/cwd" || setup_failed "cwd"
got=$(cd "$T/cwd" && complete_line "ivshmem chan recv file:$T/dir/hostile ")
if [ ! -e "$T/cwd/pwned" ] && [ "$got" = "$(printf '%s\n' '\$\(touch\$\{IFS\}pwned\)' 'a\ b' | sort)" ]; then
	ok "hostile channel names: offered quoted, nothing run"
else
	nok "hostile channel names: offered quoted, nothing run" "pwned: $([ -e "$T/cwd/pwned" ] && echo created || echo no); got: $got"
fi


# The same in a real interactive bash on a terminal (readline, complete -F,
# its own word breaks): type a command a word at a time with TAB, and read
# back the line bash built
cat >"$T/interactive.py" <<'PTY'
import os, pty, select, sys, time
completion, region = sys.argv[1], sys.argv[2]
pid, fd = pty.fork()
if pid == 0:
    os.environ["PS1"] = "READY$ "
    os.execvp("bash", ["bash", "--norc", "--noprofile", "-i"])
seen = b""
def until(want, seconds=10, after=b""):
    global seen
    end = time.time() + seconds
    found = lambda: want in seen[seen.rfind(after) + len(after) if after else 0:]
    while not found() and time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                seen += os.read(fd, 4096)
            except OSError:
                break
    return found()
ok = until(b"READY$ ")
os.write(fd, b"source '%s'; echo SOURCED\n" % completion.encode())
ok = ok and until(b"SOURCED")
# each TAB completes one word: a unique match, then a space (or none
# after "file:"); then Ctrl-A and "echo LINE: " before it, and Enter
os.write(fd, b"ivshmem ch\tre\tfi\t" + region[:-1].encode() + b"\t\t\x01echo LINE: \n")
# (the output of echo: after a carriage return, where the terminal's echo
# of the typed keys has "^A" before it; done at the next prompt)
ok = ok and until(b"\rLINE: ")
ok = ok and until(b"READY$ ", after=b"\rLINE: ")
os.write(fd, b"exit\n")
text = seen.decode(errors="replace")
line = text.rsplit("LINE: ", 1)[-1].splitlines()[0] if "LINE: " in text else ""
print(line)
sys.exit(0 if ok else 1)
PTY
head -c 65536 /dev/zero >"$T/dir/one" && ivshmem chan init "file:$T/dir/one" >/dev/null &&
	ivshmem chan create "file:$T/dir/one" only >/dev/null || setup_failed "$T/dir/one"
line=$(/usr/bin/python3 "$T/interactive.py" "$COMPLETION" "$T/dir/one" 2>&1)
want="ivshmem chan recv file:$T/dir/one only"
if [ "$line" = "$want" ]; then ok "an interactive bash completes 'ivshmem ch<TAB>re<TAB>fi<TAB>PATH<TAB><TAB>' to '$want'"
else nok "an interactive bash completes 'ivshmem ch<TAB>re<TAB>fi<TAB>PATH<TAB><TAB>'" "got '$line', want '$want'"; fi
# server: a socket path
ivshmem server -F -S "$T/dir/srv.sock" -M "ivs-completion-$$" -l 64K >"$T/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 100); do [ -S "$T/dir/srv.sock" ] && break; sleep 0.1; done
[ -S "$T/dir/srv.sock" ] || setup_failed "server: $(cat "$T/server.log")"
includes "peers server:DIR/s<TAB>: the socket" "ivshmem peers server:$T/dir/s" "$T/dir/srv.sock" "$T/dir/sub/"
includes "ring daemon:DIR/sr<TAB>" "ivshmem ring daemon:$T/dir/sr" "$T/dir/srv.sock"

echo "1..$n"
