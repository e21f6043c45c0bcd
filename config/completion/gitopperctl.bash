# bash completion for gitopperctl (and gitopperctl-rest): commands, options, @HOSTs, services.
# Install: /usr/share/bash-completion/completions/gitopperctl (the .deb does), or source it from ~/.bashrc.
#
# @HOST words come from the hosts file (docs/gitopperctl.md, "Host groups": $GITOPPER_HOSTS, else
# $XDG_CONFIG_HOME/gitopper/hosts, else ~/.config/gitopper/hosts) when it exists: a group line
# `NAME: HOST...` gives @NAME, a line with one host gives that host; '#' starts a comment.
# Service names come from `gitopperctl list service @HOST` for the first @HOST on the line, asked
# only when the host's certificate is already pinned (or --ca is given, or an http:// URL): a
# completion never makes a first connection, which would pin a certificate nobody looked at.
# That call has 3 seconds, gets no terminal (no passphrase prompt), and fails silent.

# The hosts of the hosts file, each as @NAME, one per line.
_gitopperctl_hosts() {
    local file=${GITOPPER_HOSTS:-${XDG_CONFIG_HOME:-$HOME/.config}/gitopper/hosts} line word
    [[ -r $file ]] || return 0
    while IFS= read -r line || [[ -n $line ]]; do
        line=${line%%#*}
        read -r word _ <<<"$line"
        word=${word%:}
        [[ -n $word ]] && printf '@%s\n' "$word"
    done <"$file"
}

# Whether a request to HOST (without @) may be sent without pinning a new certificate.
_gitopperctl_known() {
    local host=$1 ca=$2 file="${XDG_CONFIG_HOME:-$HOME/.config}/gitopper/known_hosts" key
    [[ -n $ca || $host == http://* ]] && return 0
    [[ $host == *://* ]] && return 1
    if [[ $host == \[*\]:* || ($host == *:* && $host != *:*:*) ]]; then key=$host
    elif [[ $host == *:* ]]; then key="[$host]:2222"
    else key="$host:2222"; fi
    [[ -r $file ]] || return 1
    local pinned _
    while read -r pinned _; do [[ $pinned == "$key" ]] && return 0; done <"$file"
    return 1
}

# The services of HOST (without @): the SERVICE column of `gitopperctl list service @HOST`.
_gitopperctl_services() {
    local host=$1; shift
    local -a run=(gitopperctl "$@" list service "@$host")
    command -v timeout >/dev/null 2>&1 && run=(timeout 3 "${run[@]}")
    "${run[@]}" </dev/null 2>/dev/null | awk 'NR > 1 && $1 ~ /^[0-9]+$/ { print $2 }'
}

_gitopperctl() {
    local -a words=() pos=() flags=() cands=()
    local cur prev host='' ca='' w i skip=''
    if [[ -n ${COMP_LINE-} ]]; then
        local line=${COMP_LINE:0:${COMP_POINT:-${#COMP_LINE}}}
        read -r -a words <<<"$line"
        if [[ $line == *[[:space:]] || ${#words[@]} -eq 0 ]]; then words+=(''); fi
    else
        words=("${COMP_WORDS[@]:0:COMP_CWORD+1}")
    fi
    cur=${words[-1]}
    prev=${words[-2]-}

    # What is on the line before the word being completed: options, @HOSTs, and the rest in order.
    for ((i = 1; i < ${#words[@]} - 1; i++)); do
        w=${words[i]}
        if [[ -n $skip ]]; then
            [[ $skip == -i || $skip == --identity ]] && flags+=("$skip" "$w")
            [[ $skip == --ca ]] && { ca=$w; flags+=(--ca "$w"); }
            skip=''
            continue
        fi
        case $w in
            -i | --identity | --ca | --reason) skip=$w ;;
            --identity=* | --ca=*) flags+=("$w"); [[ $w == --ca=* ]] && ca=${w#--ca=} ;;
            -*) ;;
            @*) [[ -z $host ]] && host=${w#@} ;;
            *) pos+=("$w") ;;
        esac
    done

    case $prev in
        -i | --identity | --ca)
            compopt -o filenames 2>/dev/null
            mapfile -t cands < <(compgen -f -- "$cur")
            ;;
        --reason) ;;
        *)
            local verb=${pos[0]-} subject=${pos[1]-} nargs
            if [[ $cur == -* ]]; then
                cands=(-i --identity --ca -m --json -h --help)
                [[ ($verb == do || $verb == d) && ($subject == freeze || $subject == f) ]] && cands+=(--reason)
            elif [[ $cur == @* ]]; then
                mapfile -t cands < <(_gitopperctl_hosts)
            elif [[ -z $verb ]]; then
                cands=(list history do forget)
            elif [[ ($verb == list || $verb == ls || $verb == l) && -z $subject ]]; then
                cands=(machines service history)
            elif [[ ($verb == do || $verb == d) && -z $subject ]]; then
                cands=(freeze unfreeze rollback pull)
            else
                # positional arguments after the command: SERVICE first, then (rollback) HASH
                case $verb in
                    history | h) nargs=$((${#pos[@]} - 1)) ;;
                    list | ls | l) [[ $subject == m* ]] && nargs=-1 || nargs=$((${#pos[@]} - 2)) ;;
                    do | d) nargs=$((${#pos[@]} - 2)) ;;
                    *) nargs=-1 ;;
                esac
                if [[ -z $host ]]; then
                    mapfile -t cands < <(_gitopperctl_hosts)
                elif [[ $nargs -eq 0 ]] && _gitopperctl_known "$host" "$ca"; then
                    mapfile -t cands < <(_gitopperctl_services "$host" "${flags[@]}")
                fi
            fi
            ;;
    esac

    # bash replaces only the part of the word after its last break character ('@', ':', …).
    local breaks=${COMP_WORDBREAKS:-@:}
    local pfx=${cur%"${cur##*[$breaks]}"}
    mapfile -t COMPREPLY < <(compgen -W "${cands[*]}" -- "$cur" | while IFS= read -r w; do printf '%s\n' "${w#"$pfx"}"; done)
}

complete -F _gitopperctl gitopperctl gitopperctl-rest
