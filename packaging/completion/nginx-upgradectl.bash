# bash completion for nginx-upgradectl(8); installed as
# /usr/share/bash-completion/completions/nginx-upgradectl.
# The commands and each command's flags are those of cmd/nginx-upgradectl/main.go (addFlags); a
# test (packaging/completion_test.go) fails when the two differ.

_nginx_upgradectl_flags() {
	local flags="--json --audit-log --timeout --lock-dir"
	case $1 in
	history)
		printf '%s\n' "$flags --since"
		return
		;;
	upgrade | commit | rollback | reload | restore | status) ;;
	*) return ;;
	esac
	flags="$flags --pid-file --unit --allow-untrusted-paths"
	case $1 in
	upgrade | reload | restore | status) flags="$flags --state-dir" ;;
	esac
	case $1 in
	restore | status)
		printf '%s\n' "$flags"
		return
		;;
	esac
	flags="$flags --health"
	case $1 in
	upgrade) flags="$flags --soak --drain-wait --wait --binary --pause --ignore-memory" ;;
	reload) flags="$flags --soak --drain-wait --wait --ignore-memory" ;;
	esac
	printf '%s\n' "$flags"
}

# _nginx_upgradectl_values FLAG CUR: the candidates for FLAG's value; returns 1 for a flag that
# takes none.
_nginx_upgradectl_values() {
	local IFS=$'\n'
	case $1 in
	--pid-file | -pid-file | --audit-log | -audit-log | --binary | -binary)
		COMPREPLY=($(compgen -f -- "$2"))
		compopt -o filenames 2>/dev/null
		;;
	--lock-dir | -lock-dir | --state-dir | -state-dir)
		COMPREPLY=($(compgen -d -- "$2"))
		compopt -o filenames 2>/dev/null
		;;
	--unit | -unit)
		COMPREPLY=($(compgen -W "$(systemctl list-units --all --type=service --plain --no-legend 2>/dev/null |
			while read -r unit _; do printf '%s\n' "$unit"; done)" -- "$2"))
		;;
	--soak | -soak | --timeout | -timeout | --since | -since | --health | -health | --drain-wait | -drain-wait | --wait | -wait)
		COMPREPLY=() # a duration or a URL: nothing to offer
		;;
	*) return 1 ;;
	esac
	return 0
}

_nginx_upgradectl() {
	local cur=${COMP_WORDS[COMP_CWORD]} prev=
	((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}
	COMPREPLY=()

	if ((COMP_CWORD == 1)); then
		COMPREPLY=($(compgen -W "upgrade commit rollback reload restore status history" -- "$cur"))
		return 0
	fi
	local cmd=${COMP_WORDS[1]}

	# --flag=value: complete the value after the sign. With "=" in COMP_WORDBREAKS (bash's
	# default), the flag, the sign and the value are words of their own.
	if [[ $cur == = ]] && ((COMP_CWORD > 1)); then
		_nginx_upgradectl_values "$prev" "" && return 0
	fi
	if [[ $prev == = ]] && ((COMP_CWORD > 2)); then
		_nginx_upgradectl_values "${COMP_WORDS[COMP_CWORD - 2]}" "$cur" && return 0
	fi
	if [[ $cur == -*=* ]]; then
		_nginx_upgradectl_values "${cur%%=*}" "${cur#*=}" && return 0
	fi
	# The value of the flag before.
	if [[ $prev == -* && $prev != *=* ]] && _nginx_upgradectl_values "$prev" "$cur"; then
		return 0
	fi
	COMPREPLY=($(compgen -W "$(_nginx_upgradectl_flags "$cmd") -h" -- "$cur"))
	return 0
}

complete -F _nginx_upgradectl nginx-upgradectl
