package sdk

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// runtimeOnly are names the runtime needs and plugin authors do not; they
// live in internal/pluginclient (and internal/rpc), not in the SDK's API.
var runtimeOnly = []string{
	"Handshake", "PluginSet", "ProtocolVersion", "Inspector", "BatchExtractor", "ExtractBatch",
	"ErrAuditUnsupported", "ErrCompactUnsupported", "ErrPluginUnavailable", "ErrCommittedUnsupported",
	"ErrAdoptUnsupported", "ErrWindowsUnsupported", "ErrDeadLettersUnsupported", "ErrGenerationsUnsupported",
	"ErrNotDescribed", // what the runtime's view of a plugin without a schema says
	"CutDeadLetter",   // the engine makes dead letters; a sink only stores them
}

// The SDK's API is what plugin authors use: types, interfaces, config,
// errors, Logger and Serve*. Nothing of the runtime's side is exported,
// and no exported declaration names a type of an internal package, which
// an author could not name in turn.
func TestAPIIsWhatAuthorsUse(t *testing.T) {
	fset := token.NewFileSet()
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		internal := map[string]bool{} // local names of internal imports
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if !strings.Contains(path, "/internal/") {
				continue
			}
			local := path[strings.LastIndex(path, "/")+1:]
			if imp.Name != nil {
				local = imp.Name.Name
			}
			internal[local] = true
		}
		check := func(what string, node ast.Node) {
			ast.Inspect(node, func(n ast.Node) bool {
				if sel, ok := n.(*ast.SelectorExpr); ok {
					if id, ok := sel.X.(*ast.Ident); ok && internal[id.Name] {
						t.Errorf("%s: exported %s names %s.%s, an internal type", fset.Position(sel.Pos()), what, id.Name, sel.Sel.Name)
					}
				}
				return true
			})
		}
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if !d.Name.IsExported() || (d.Recv != nil && !exportedRecv(d.Recv)) {
					continue
				}
				if d.Recv == nil && slices.Contains(runtimeOnly, d.Name.Name) {
					t.Errorf("%s: sdk exports %s, which only the runtime uses", fset.Position(d.Pos()), d.Name.Name)
				}
				check(d.Name.Name, d.Type)
			case *ast.GenDecl:
				for _, s := range d.Specs {
					switch s := s.(type) {
					case *ast.TypeSpec:
						if !s.Name.IsExported() {
							continue
						}
						if slices.Contains(runtimeOnly, s.Name.Name) {
							t.Errorf("%s: sdk exports %s, which only the runtime uses", fset.Position(s.Pos()), s.Name.Name)
						}
						check(s.Name.Name, exportedFieldsOnly(s.Type))
					case *ast.ValueSpec:
						for _, n := range s.Names {
							if n.IsExported() && slices.Contains(runtimeOnly, n.Name) {
								t.Errorf("%s: sdk exports %s, which only the runtime uses", fset.Position(n.Pos()), n.Name)
							}
						}
					}
				}
			}
		}
	}
}

func exportedRecv(fl *ast.FieldList) bool {
	typ := fl.List[0].Type
	if star, ok := typ.(*ast.StarExpr); ok {
		typ = star.X
	}
	id, ok := typ.(*ast.Ident)
	return ok && id.IsExported()
}

// exportedFieldsOnly returns a struct type with its unexported fields left
// out (an author never sees them), any other type as it is.
func exportedFieldsOnly(typ ast.Expr) ast.Node {
	st, ok := typ.(*ast.StructType)
	if !ok || st.Fields == nil {
		return typ
	}
	out := &ast.FieldList{}
	for _, f := range st.Fields.List {
		if len(f.Names) == 0 || f.Names[0].IsExported() {
			out.List = append(out.List, f)
		}
	}
	return out
}
