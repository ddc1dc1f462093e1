"""`python -m streamlab.book`: the book runner (see `streamlab.book.runner`)."""

import sys

from .runner import main

sys.exit(main())
