"""Unit tests of scripts/gen-api-catalogue.py on small synthetic handler classes (written
for these tests in the format of Uyuni's handlers; no upstream code).

    python3 -m unittest discover -s scripts/tests
"""

import importlib.util
import os
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location(
    "gen", os.path.join(HERE, "..", "gen-api-catalogue.py"))
gen = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gen)

FACTORY = """
public class HandlerFactory {
    public static HandlerFactory getDefaultHandlerFactory() {
        HandlerFactory factory = new HandlerFactory();
        factory.addHandler("gizmo", new GizmoHandler(tracker));
        factory.addHandler("gizmo.part", new GizmoPartHandler());
        factory.addHandler("taskomatic", new TaskomaticHandler());
        factory.addHandler("missing", new NowhereHandler());
        return factory;
    }
}
"""

GIZMO = """
public class GizmoHandler extends BaseHandler {

    public GizmoHandler(Tracker t) { }

    /**
     * Lists the gizmos a system has.
     * @param loggedInUser the caller
     * @param sid the system
     * @return the gizmos
     *
     * @apidoc.doc Gizmos of one system.
     * @apidoc.param #session_key()
     * @apidoc.param #param("int", "sid")
     * @apidoc.returntype
     *     #return_array_begin()
     *         $GizmoSerializer
     *     #array_end()
     */
    @ReadOnly
    public List<Map<String, Object>> listGizmos(User loggedInUser, Integer sid) {
        return null;
    }

    /**
     * @apidoc.doc Tags several systems.
     * @apidoc.param #session_key()
     * @apidoc.param #array_single("int", "sids")
     * @apidoc.param #param_desc("string", "tag", "the tag")
     * @apidoc.returntype #return_int_success()
     */
    public int tagSystems(User loggedInUser, List<Integer> sids, String tag) {
        return 1;
    }

    /**
     * @xmlrpc.doc Old style: details of a gizmo by label.
     * @xmlrpc.param #session_key()
     * @xmlrpc.param #param("string", "label")
     * @xmlrpc.returntype
     *   #struct_begin("gizmo")
     *     #prop("int", "id")
     *     #prop_desc("string", "label", "its label")
     *   #struct_end()
     */
    @Deprecated
    public Map<String, Object> getDetails(User loggedInUser, String label) {
        return null;
    }

    /**
     * @apidoc.ignore Internal.
     */
    @ApiIgnore(ApiType.HTTP)
    public String version() {
        return "1";
    }

    /** Not part of the API. */
    @ApiIgnore
    public int hidden(User loggedInUser) {
        return 0;
    }

    private int helper(int x) {
        return x;
    }

    public static GizmoHandler instance() {
        return null;
    }
}
"""

PART = """
public class GizmoPartHandler extends BaseHandler {
    /**
     * @apidoc.param #session_key()
     * @apidoc.param #struct_begin("part") #prop("string", "name") #struct_end()
     * @apidoc.returntype #array_single("string", "names")
     */
    public Object[] create(User loggedInUser, Map<String, Object> part, Date when) {
        return null;
    }
}
"""


def checkout():
    root = tempfile.mkdtemp()
    files = {
        gen.HANDLER_FACTORY: FACTORY,
        "java/code/src/org/example/gizmo/GizmoHandler.java": GIZMO,
        "java/code/src/org/example/gizmo/GizmoPartHandler.java": PART,
        "java/code/src/org/example/task/TaskomaticHandler.java": "public class T {}",
    }
    for path, text in files.items():
        full = os.path.join(root, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w", encoding="utf-8") as f:
            f.write(text)
    return root


class GenerateTest(unittest.TestCase):
    def setUp(self):
        self.root = checkout()
        self.methods, self.handlers, self.problems = gen.generate(self.root)
        self.rows = {(r[0], r[1]): r for r in self.methods}

    def test_namespaces_follow_the_handler_factory(self):
        self.assertEqual([h[0] for h in self.handlers], ["gizmo", "gizmo.part", "taskomatic"])
        self.assertEqual(self.handlers[0][1], "java/code/src/org/example/gizmo/GizmoHandler.java")
        self.assertEqual(self.handlers[0][2], "(not in git)")
        self.assertEqual(self.problems, ["missing: no source for NowhereHandler"])

    def test_public_methods_with_names_types_and_session(self):
        self.assertEqual(self.rows[("gizmo", "listGizmos")],
                         ("gizmo", "listGizmos", "y", "sid:int", "array/struct:GizmoSerializer",
                          "ro"))
        self.assertEqual(self.rows[("gizmo", "tagSystems")][3], "sids:array/int,tag:string")
        self.assertEqual(self.rows[("gizmo", "tagSystems")][4], "int")
        self.assertEqual(self.rows[("gizmo", "version")],
                         ("gizmo", "version", "n", "", "string", "nohttp,undoc"))

    def test_old_xmlrpc_tags_struct_fields_and_flags(self):
        row = self.rows[("gizmo", "getDetails")]
        self.assertEqual(row[3], "label:string")
        self.assertEqual(row[4], "struct{id,label}")
        self.assertEqual(row[5], "dep")

    def test_constructors_private_static_and_ignored_methods_are_left_out(self):
        names = {m for (_, m) in self.rows}
        self.assertFalse(names & {"GizmoHandler", "helper", "instance", "hidden"}, names)

    def test_structs_dates_and_array_answers(self):
        row = self.rows[("gizmo.part", "create")]
        self.assertEqual(row[3], "part:struct,when:date")
        self.assertEqual(row[4], "array/string")

    def test_dynamic_namespaces_forward_every_method(self):
        self.assertEqual(self.rows[("taskomatic", "*")][5], "dynamic,undoc")

    def test_the_data_files_are_written_in_the_build_scripts_format(self):
        out = tempfile.mkdtemp()
        self.assertEqual(gen.main(["--uyuni", self.root, "--out", out]), 0)
        with open(os.path.join(out, "methods.tsv"), encoding="utf-8") as f:
            lines = f.read().splitlines()
        self.assertTrue(lines[0].startswith("# namespace\tmethod"))
        self.assertTrue(all(len(line.split("\t")) == 6 for line in lines[1:]), lines)
        self.assertEqual(gen.main(["--uyuni", out]), 2)


if __name__ == "__main__":
    unittest.main()
