from tagpipe.cli import main

main()
