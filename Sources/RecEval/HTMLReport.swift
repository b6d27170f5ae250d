import Foundation

/// A self-contained HTML page (inline SVG and CSS, no scripts, nothing fetched) with one plot
/// per ranking metric over K = 1...maxK, the cold-start curve (n revealed vs NDCG@10), and the
/// numeric table.
public enum HTMLReport {
    static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]

    public static func render(title: String, main: [EvalRunner.Report], coldStart: [EvalRunner.Report]) -> String {
        var body = "<h1>\(esc(title))</h1>\n"
        if let p = main.first?.protocolName {
            body +=
                "<p>Protocol <code>\(esc(p))</code>; \(main.first?.usersEvaluated ?? 0) users evaluated. Ranking "
                + "over every item not in the user's training set; relevant = test rating ≥ threshold.</p>\n"
        }
        body += "<div class=grid>\n"
        for (metric, label) in [("precision", "Precision@K"), ("recall", "Recall@K"), ("ndcg", "NDCG@K")] {
            let series = main.compactMap { r in
                r.curves[metric].map { (r.engine, Array($0.enumerated().map { (Double($0.offset + 1), $0.element) })) }
            }
            if !series.isEmpty { body += chart(title: label, xLabel: "K", series: series) }
        }
        if !coldStart.isEmpty {
            var byEngine: [String: [(Double, Double)]] = [:]
            var order: [String] = []
            for r in coldStart {
                guard let n = r.revealed, let v = r.metrics["ndcg@10"] else { continue }
                if byEngine[r.engine] == nil { order.append(r.engine) }
                byEngine[r.engine, default: []].append((Double(n), v))
            }
            body += chart(
                title: "Cold start: NDCG@10 vs revealed interactions", xLabel: "n revealed",
                series: order.map { ($0, byEngine[$0]!.sorted { $0.0 < $1.0 }) }, markers: true)
        }
        body += "</div>\n" + table(main + coldStart)
        return """
            <!doctype html><html lang=en><head><meta charset=utf-8><title>\(esc(title))</title>
            <style>
            body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#222;max-width:1200px}
            h1{font-size:22px} .grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(540px,1fr));gap:16px}
            figure{margin:0;border:1px solid #ddd;border-radius:6px;padding:8px} figcaption{font-weight:600;margin:0 \
            0 4px 4px}
            table{border-collapse:collapse;margin-top:24px;font-variant-numeric:tabular-nums} th,td{border-bottom:1px \
            solid #e4e4e4;padding:4px 10px;text-align:right}
            th:first-child,td:first-child,th:nth-child(2),td:nth-child(2){text-align:left} th{background:#f6f6f6}
            svg text{font:11px system-ui,sans-serif;fill:#444}
            </style></head><body>
            \(body)
            </body></html>
            """
    }

    static func chart(
        title: String, xLabel: String, series: [(String, [(Double, Double)])], markers: Bool = false
    ) -> String {
        let w = 540.0, h = 300.0, l = 48.0, r = 130.0, t = 10.0, b = 36.0
        let xs = series.flatMap { $0.1.map(\.0) }, ys = series.flatMap { $0.1.map(\.1) }
        guard let x0 = xs.min(), let x1 = xs.max(), let yMax = ys.max() else { return "" }
        let yTop = niceCeil(max(yMax, 1e-9))
        func px(_ x: Double) -> Double { l + (x1 == x0 ? 0.5 : (x - x0) / (x1 - x0)) * (w - l - r) }
        func py(_ y: Double) -> Double { t + (1 - y / yTop) * (h - t - b) }
        var s =
            "<figure><figcaption>\(esc(title))</figcaption><svg viewBox='0 0 \(Int(w)) \(Int(h))' width='100%' "
            + "role='img' aria-label='\(esc(title))'>"
        for i in 0...4 {
            let y = yTop * Double(i) / 4
            s += "<line x1='\(f(l))' x2='\(f(w - r))' y1='\(f(py(y)))' y2='\(f(py(y)))' stroke='#eee'/>"
            s += "<text x='\(f(l - 6))' y='\(f(py(y) + 4))' text-anchor='end'>\(String(format: "%.3g", y))</text>"
        }
        let ticks =
            x1 - x0 <= 10
            ? Array(stride(from: x0, through: x1, by: 1)) : [x0] + stride(from: 10, through: x1, by: 10).map { $0 }
        for x in ticks { s += "<text x='\(f(px(x)))' y='\(f(h - b + 16))' text-anchor='middle'>\(Int(x))</text>" }
        s += "<line x1='\(f(l))' x2='\(f(w - r))' y1='\(f(py(0)))' y2='\(f(py(0)))' stroke='#888'/>"
        s += "<line x1='\(f(l))' x2='\(f(l))' y1='\(f(t))' y2='\(f(py(0)))' stroke='#888'/>"
        s += "<text x='\(f((l + w - r) / 2))' y='\(f(h - 4))' text-anchor='middle'>\(esc(xLabel))</text>"
        for (n, (name, pts)) in series.enumerated() {
            let c = palette[n % palette.count]
            let points = pts.map { "\(f(px($0.0))),\(f(py($0.1)))" }.joined(separator: " ")
            s += "<polyline fill='none' stroke='\(c)' stroke-width='2' points='\(points)'>"
            s += "<title>\(esc(name))</title></polyline>"
            if markers {
                for p in pts {
                    s +=
                        "<circle cx='\(f(px(p.0)))' cy='\(f(py(p.1)))' r='3' fill='\(c)'><title>\(esc(name)) "
                        + "n=\(Int(p.0)): \(String(format: "%.4f", p.1))</title></circle>"
                }
            }
            let ly = t + 14 + Double(n) * 16
            s +=
                "<line x1='\(f(w - r + 10))' x2='\(f(w - r + 28))' y1='\(f(ly - 4))' y2='\(f(ly - 4))' stroke='\(c)' "
                + "stroke-width='3'/>"
            s += "<text x='\(f(w - r + 32))' y='\(f(ly))'>\(esc(name))</text>"
        }
        return s + "</svg></figure>\n"
    }

    static func table(_ reports: [EvalRunner.Report]) -> String {
        let cols = ["rmse", "mae", "precision@10", "recall@10", "ndcg@10", "map@10", "hr@10", "coverage@10"]
            .filter { c in reports.contains { $0.metrics[c] != nil } }
        var s =
            "<table><tr><th>engine</th><th>protocol</th>" + cols.map { "<th>\($0)</th>" }.joined()
            + "<th>fit s</th><th>users</th></tr>\n"
        for r in reports {
            s += "<tr><td>\(esc(r.engine))</td><td>\(esc(r.protocolName))</td>"
            s += cols.map { c in "<td>\(r.metrics[c].map { String(format: "%.4f", $0) } ?? "–")</td>" }.joined()
            s += "<td>\(String(format: "%.2f", r.fitSeconds))</td><td>\(r.usersEvaluated)</td></tr>\n"
        }
        return s + "</table>\n"
    }

    static func niceCeil(_ v: Double) -> Double {
        let e = pow(10, floor(log10(v)))
        for m in [1.0, 2, 2.5, 5, 10] where m * e >= v { return m * e }
        return 10 * e
    }

    static func f(_ x: Double) -> String { String(format: "%.1f", x) }

    static func esc(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "'", with: "&#39;")
    }
}
