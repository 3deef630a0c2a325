from mailprobe.cli.entry import main

main()
