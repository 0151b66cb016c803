"""Fake API server used to capture testdata/: saves every POST/DELETE body as NNN.bin (+ NNN.meta: path,
Content-Type, Kubectl-Command). Usage: python3 capture_server.py PORT OUTDIR, then run
/usr/lib/google-cloud-sdk/bin/kubectl.1.32 (protobuf bodies) and kubectl.1.31 (JSON bodies of the same
command) with a kubeconfig pointing at http://127.0.0.1:PORT and a private HOME (wipe ~/.kube/cache).
"""
import http.server, json, sys, os, itertools
OUT = sys.argv[2]
counter = itertools.count()
RES = {
 "/api/v1": [("namespaces","Namespace",False),("configmaps","ConfigMap",True),("secrets","Secret",True),("services","Service",True),("serviceaccounts","ServiceAccount",True),("pods","Pod",True),("pods/eviction","Eviction",True),("nodes","Node",False)],
 "/apis/apps/v1": [("deployments","Deployment",True)],
}
NODE = {"kind":"Node","apiVersion":"v1","metadata":{"name":"n1","uid":"u-n1"},"spec":{}}
POD = {"kind":"Pod","apiVersion":"v1","metadata":{"name":"web-1","namespace":"default","uid":"u-p1","ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"web","uid":"u-rs","controller":True}]},"spec":{"nodeName":"n1","containers":[{"name":"c","image":"nginx"}]},"status":{"phase":"Running"}}
class H(http.server.BaseHTTPRequestHandler):
    def send(self, code, obj):
        b = json.dumps(obj).encode()
        self.send_response(code); self.send_header("Content-Type","application/json"); self.send_header("Content-Length",str(len(b))); self.end_headers(); self.wfile.write(b)
    def do_GET(self):
        p = self.path.split("?")[0]
        if p == "/version": return self.send(200, {"major":"1","minor":"32","gitVersion":"v1.32.0"})
        if p == "/api": return self.send(200, {"kind":"APIVersions","versions":["v1"],"serverAddressByClientCIDRs":[{"clientCIDR":"0.0.0.0/0","serverAddress":"127.0.0.1"}]})
        if p == "/apis": return self.send(200, {"kind":"APIGroupList","apiVersion":"v1","groups":[{"name":"policy","versions":[{"groupVersion":"policy/v1","version":"v1"}],"preferredVersion":{"groupVersion":"policy/v1","version":"v1"}},{"name":"apps","versions":[{"groupVersion":"apps/v1","version":"v1"}],"preferredVersion":{"groupVersion":"apps/v1","version":"v1"}}]})
        if p in RES: return self.send(200, {"kind":"APIResourceList","groupVersion":p.split("/",2)[-1] if p.startswith("/apis") else "v1","resources":[dict({"name":n,"singularName":k.lower(),"namespaced":ns,"kind":k,"verbs":["create","get","list","delete"]}, **({"group":"policy","version":"v1"} if k=="Eviction" else {})) for n,k,ns in RES[p]]})
        if p == "/api/v1/nodes/n1": return self.send(200, NODE)
        if p == "/api/v1/pods": return self.send(200, {"kind":"PodList","apiVersion":"v1","metadata":{},"items":[POD]})
        return self.send(404, {"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404})
    def do_POST(self):
        n = int(self.headers.get("Content-Length","0")); body = self.rfile.read(n)
        i = next(counter)
        with open(os.path.join(OUT, f"{i:03d}.bin"), "wb") as f: f.write(body)
        with open(os.path.join(OUT, f"{i:03d}.meta"), "w") as f: f.write(self.path + "\n" + self.headers.get("Content-Type","") + "\n" + self.headers.get("Kubectl-Command","") + "\n")
        self.send(201, {})
    def do_DELETE(self):
        self.do_POST()
    def do_PATCH(self):
        n = int(self.headers.get("Content-Length","0")); self.rfile.read(n)
        self.send(200, NODE)
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
