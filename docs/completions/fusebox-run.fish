complete -c fusebox-run -s w -l write -d 'Also allow writes under PATH (repeatable), besides the defaults: the current directory, /tmp and $TMPDIR' -r -F
complete -c fusebox-run -l read -d 'Also allow reads under PATH (repeatable), besides the default, / (everything)' -r -F
complete -c fusebox-run -l predict -d 'Make writes under PATH fail quietly, without a violation (repeatable): for configure-style probes' -r -F
complete -c fusebox-run -l deny -d 'Refuse and report reads and writes under PATH, whatever else allows them (repeatable)' -r -F
complete -c fusebox-run -l share -d 'Mount the host\'s own PATH, read-only, over the mirror\'s (repeatable): FIFOs and Unix sockets under it then reach processes outside, which through the mirror they cannot. Nothing under PATH can be changed; accesses there are not judged or traced' -r -F
complete -c fusebox-run -l policy -d 'Add the policy entries of FILE (repeatable): lines `read|write|predict|deny PATH`; `#` at the start of a line or after a blank starts a comment' -r -F
complete -c fusebox-run -l log -d 'Write violations to FILE in Gentoo\'s sandbox log format (created only when there is a violation; a previous sandbox log there is replaced, any other file refused). Default: violations.log in a new private directory under $XDG_RUNTIME_DIR, or else $TMPDIR or /tmp' -r -F
complete -c fusebox-run -l learn -d 'After the run, write to FILE the smallest widening of the policy under which the run would have had no violations (use it with --policy). Implies --audit' -r -F
complete -c fusebox-run -l system-tree -d 'Serve PATH from the kernel, read-only, as /usr is (repeatable): a toolchain in /opt, say. Reads there are not judged; writes are, as anywhere' -r -F
complete -c fusebox-run -l trace -d 'Write every judged operation to FILE, one JSON object per line (time, pid, cmdline, op, path, path2, verdict, errno). `-`, /dev/stdout, /dev/stderr and /dev/fd/N write to that inherited descriptor; any other FILE must be a regular file of yours or not exist' -r -F
complete -c fusebox-run -l report -d 'After the run, write a report of what the build read, wrote, ran and was refused, and which installed packages it used, to FILE: .html, .json or .txt' -r -F
complete -c fusebox-run -l from-trace -d 'With --report, run nothing: make the report from TRACE, a saved --trace' -r -F
complete -c fusebox-run -l stats -d 'After the run, write to FILE how many FUSE requests the mirror served, by opcode, and the CPU time fusebox-run itself used (one JSON object): what a build costs' -r -F
complete -c fusebox-run -l cache-ttl -d 'How long the kernel may cache names, in seconds (0 = nothing cached); attributes and "no such file" answers are cached for at most 1 s. Changes the build makes are always seen at once; changes made on the host while it runs, within a second' -r
complete -c fusebox-run -l uid-map -d 'Inside, be your own uid/gid (self) or uid/gid 0 (root, like `unshare -r`)' -r -f -a "self\t'Your own uid and gid'
root\t'uid and gid 0'"
complete -c fusebox-run -l net -d 'Network: share the host\'s (host) or a new namespace with only loopback, up (none)' -r -f -a "host\t''
none\t''"
complete -c fusebox-run -l hostname -d 'Give the build its own UTS namespace with this hostname' -r
complete -c fusebox-run -l mount-helper -d 'How to mount the mirror: inside the user namespace (direct), through the setuid fusermount3 helper, or direct with fusermount3 as the fallback (auto)' -r -f -a "auto\t''
direct\t''
fusermount3\t''"
complete -c fusebox-run -l generate -d 'Print the man page (man) or a shell\'s completion script (bash, zsh, fish) and exit: for packagers (scripts/gen-docs.sh)' -r -f -a "man\t'fusebox-run(1), in roff'
bash\t''
zsh\t''
fish\t''"
complete -c fusebox-run -l no-default-write -d 'Start from an empty write set: only the -w/--write paths (and policy files) are writable, not the current directory, /tmp and $TMPDIR'
complete -c fusebox-run -l no-default-read -d 'Start from an empty read set: only the --read paths (and policy files) are readable, not all of /'
complete -c fusebox-run -l no-default-deny -d 'Turn off the built-in secrets set (SSH and GnuPG keys, cloud and registry tokens, browser profiles…), which is otherwise denied for reading and writing and reported. `--read PATH` re-allows one entry; --show-defaults lists them'
complete -c fusebox-run -l default-deny -d 'Turn the secrets set on: the default, except in Gentoo mode (FUSEBOX_OPTS)'
complete -c fusebox-run -l show-defaults -d 'Print the policy these options give (defaults and the secrets set included, one reason per secret) in the --policy file format, and exit'
complete -c fusebox-run -l audit -d 'Report violations but let the operations succeed (to see what a build needs)'
complete -c fusebox-run -l full-mirror -d 'Serve every path through the mirror: no kernel-served trees (/usr read-only, the write set\'s directories read-write). Slower; the default with --trace, --report, --learn, --audit and in Gentoo mode, which need every access'
complete -c fusebox-run -l lock -d 'Refuse every change to the policy through /dev/fusebox from the start'
complete -c fusebox-run -s q -l quiet -d 'Do not print the one-line footprint at the end of the run (printed only when stderr is a terminal)'
complete -c fusebox-run -s v -l verbose -d 'Print ` * ACCESS DENIED:  op:  path` on stderr as each violation happens'
complete -c fusebox-run -l unshare-ipc -d 'Give the build its own System V IPC and POSIX message queue namespace (the default; kept so that scripts passing it still work)'
complete -c fusebox-run -l share-ipc -d 'Share the host\'s System V IPC and POSIX message queues with the build (for builds that talk to a host daemon through them)'
complete -c fusebox-run -l check -d 'Check the prerequisites, print one line for each with the fix for what fails, and exit'
complete -c fusebox-run -l gentoo -d 'Behave as Gentoo\'s `sandbox` (as when run through a link named `sandbox`): the arguments after --gentoo are sandbox\'s; fusebox options come before it or in $FUSEBOX_OPTS. `fusebox-run --gentoo --help` tells more'
complete -c fusebox-run -s h -l help -d 'Print help (see more with \'--help\')'
complete -c fusebox-run -s V -l version -d 'Print version'
