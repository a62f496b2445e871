package cli

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
)

// commandTree lists moat's commands and their subcommands, for completion.
// Flags are not listed here: the completion script asks `moat CMD --help`,
// so it can never fall behind a command's real flags.
func commandTree() map[string][]string {
	return map[string][]string{
		"serve": nil, "config": {"validate", "print"}, "simulator": nil, "logs": {"tail", "query"}, "idp": nil,
		"keys": {"create", "list", "revoke", "regenerate"}, "roles": {"assign", "list", "remove", "definitions"},
		"teams": {"create", "list", "delete", "add-principal", "remove-principal"}, "report": {"usage"},
		"audit": {"verify", "list"}, "status": nil, "doctor": nil, "dns": {"records"}, "version": nil, "completion": {"bash", "zsh"}, "help": nil,
	}
}

const bashCompletion = `# moat bash completion: source <(moat completion bash)
_moat() {
  local cur=${COMP_WORDS[COMP_CWORD]} cmd=${COMP_WORDS[1]} sub=""
  [[ $COMP_CWORD -ge 3 ]] && sub=${COMP_WORDS[2]}
  case $COMP_CWORD in
  1) COMPREPLY=($(compgen -W "%s" -- "$cur")); return ;;
  2)
    case $cmd in
%s    esac ;;
  esac
  if [[ $cur == -* ]]; then
    local flags
    flags=$(moat $cmd $sub --help 2>/dev/null | grep -oE '^  --?[a-z][a-z0-9-]*' | tr -d ' ')
    COMPREPLY=($(compgen -W "$flags" -- "$cur"))
    return
  fi
  case ${COMP_WORDS[COMP_CWORD-1]} in
  --config) COMPREPLY=($(compgen -f -X '!*.y*ml' -- "$cur")) ;;
  -o) COMPREPLY=($(compgen -W "table json" -- "$cur")) ;;
  *) COMPREPLY=($(compgen -f -- "$cur")) ;;
  esac
}
complete -F _moat moat
`

func runCompletion(args []string, stdout, stderr io.Writer) error {
	if len(args) != 1 || (args[0] != "bash" && args[0] != "zsh") {
		fmt.Fprintln(stderr, "usage: moat completion bash|zsh")
		return errUsage
	}
	tree := commandTree()
	var names []string
	var subs strings.Builder
	for _, name := range sortedKeys(tree) {
		names = append(names, name)
		if len(tree[name]) > 0 {
			fmt.Fprintf(&subs, "    %s) COMPREPLY=($(compgen -W %q -- \"$cur\")); return ;;\n", name, strings.Join(tree[name], " "))
		}
	}
	fmt.Fprintf(&subs, "    help) COMPREPLY=($(compgen -W %q -- \"$cur\")); return ;;\n", strings.Join(names, " "))
	script := fmt.Sprintf(bashCompletion, strings.Join(names, " "), subs.String())
	if args[0] == "zsh" {
		// zsh runs bash completions through bashcompinit.
		script = "#compdef moat\n# moat zsh completion: source <(moat completion zsh)\nautoload -U +X bashcompinit && bashcompinit\n" + script
	}
	_, err := io.WriteString(stdout, script)
	return err
}

func sortedKeys(m map[string][]string) []string { return slices.Sorted(maps.Keys(m)) }
