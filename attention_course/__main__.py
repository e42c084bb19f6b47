from attention_course.cli import main

raise SystemExit(main())
