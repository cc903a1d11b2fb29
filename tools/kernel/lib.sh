# Helpers shared by the kernel tree scripts (sourced, not run).

# series_hash PATCHDIR: identifies the series file and the patches it names.
series_hash() {
	(cd "$1" && cat series && sed -e '/^#/d' -e '/^$/d' series | xargs -r cat) |
		sha1sum | cut -d' ' -f1
}

# stamp_of SRCDIR: where the tree records which series it carries.
stamp_of() {
	echo "$1/.git/cowpte-series"
}
