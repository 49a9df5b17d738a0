from rel_tui.cli import main

main()
