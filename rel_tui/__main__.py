from rel_tui.cli import main

# Guarded, so importing this module (multiprocessing spawn, tools) never starts the app.
if __name__ == "__main__":
    main()
