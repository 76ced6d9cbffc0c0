#!/bin/sh
# Installs exactly the versions package-lock.json pins and copies the browser builds the pages
# load, with each package's licence, into vendor/. The server embeds vendor/ as it is: building
# it needs no npm. Run after changing package.json and `npm install`; commit vendor/ together
# with package.json and package-lock.json.
set -eu

cd "$(dirname "$0")"

npm ci --ignore-scripts --no-audit --no-fund

rm -rf vendor
mkdir vendor

# copy SRC DEST: a built file, without the trailing source-map comment (the maps are not
# vendored, so a browser would ask for a file the server does not have)
copy() {
    sed -e '/^\/\/# sourceMappingURL=/d' -e 's|/\*# sourceMappingURL=[^*]*\*/||' "node_modules/$1" > "vendor/$2"
}

# licence PACKAGE NAME: the package's licence file as vendor/LICENSE.NAME
licence() {
    for f in LICENSE LICENSE.md LICENSE.txt license; do
        if [ -f "node_modules/$1/$f" ]; then
            cp "node_modules/$1/$f" "vendor/LICENSE.$2"
            return
        fi
    done
    echo "vendor.sh: no licence file in node_modules/$1" >&2
    exit 1
}

copy react/umd/react.production.min.js react.production.min.js
licence react react

copy react-dom/umd/react-dom.production.min.js react-dom.production.min.js
licence react-dom react-dom

# GraphiQL's browser build bundles everything it uses but React (graphql, CodeMirror, ...)
copy graphiql/graphiql.min.js graphiql.min.js
copy graphiql/graphiql.min.css graphiql.min.css
licence graphiql graphiql
licence graphql graphql

# the graphql-transport-ws client, as the global `graphqlWs`
copy graphql-ws/umd/graphql-ws.min.js graphql-ws.min.js
licence graphql-ws graphql-ws

# every installed package with its version and licence, the ones bundled into GraphiQL's
# build included
node -e '
const lock = require("./package-lock.json");
const rows = Object.entries(lock.packages)
  .filter(([path]) => path.startsWith("node_modules/"))
  .map(([path, p]) => `${path.slice("node_modules/".length)} ${p.version} ${p.license || "see its package"}`)
  .sort();
process.stdout.write(
  "Packages installed from package-lock.json (name, version, licence).\n" +
  "vendor/ holds the browser builds of react, react-dom, graphiql and graphql-ws;\n" +
  "graphiql.min.js bundles the others it depends on.\n\n" + rows.join("\n") + "\n");
' > vendor/PACKAGES.txt

echo "vendor.sh: vendor/ updated:"
ls -l vendor
