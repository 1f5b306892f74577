using System.Collections;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Reflection;

namespace Transport.IntegrationTests.Secrets;

/// <summary>
/// Walks any value a telemetry sink could export and records every place one of the run's secrets
/// appears: strings, numbers, collections (a <c>string[]</c> header value is walked element by
/// element, not printed as <c>System.String[]</c>), key/value lists (structured log state and scopes,
/// tags), exceptions (message, <c>ToString()</c>, data and every inner exception), and any other
/// object through its <c>ToString()</c> and its public properties (what a destructuring logger such as
/// Serilog's <c>{@Request}</c> would export), to a bounded depth.
/// </summary>
internal sealed class SecretScanner(SecretSet secrets)
{
    private const int MaxDepth = 5;
    private const int MaxNodesPerScan = 20_000;
    private const int MaxElements = 2_000;

    // One entry per (where, which secret): the first excerpt and how often it recurred.
    private readonly ConcurrentDictionary<string, (string Excerpt, int Count)> _hits = new(StringComparer.Ordinal);
    private long _scannedTexts;

    /// <summary>Every place a secret was found: where, which secret, how often, and the text around its first sighting.</summary>
    public IReadOnlyList<string> Hits =>
        [.. _hits.OrderBy(h => h.Key, StringComparer.Ordinal).Select(h => $"{h.Key} (x{h.Value.Count}), in \"{h.Value.Excerpt}\"")];

    /// <summary>How many strings were checked (a capture that checked nothing proves nothing).</summary>
    public long ScannedTexts => Interlocked.Read(ref _scannedTexts);

    /// <summary>Checks <paramref name="value"/> and everything reachable from it.</summary>
    /// <param name="where">Where the value was seen (for the failure message).</param>
    /// <param name="value">The value.</param>
    public void Scan(string where, object? value)
    {
        var budget = MaxNodesPerScan;
        Walk(value, where, 0, new HashSet<object>(ReferenceEqualityComparer.Instance), ref budget);
    }

    /// <summary>Checks one string.</summary>
    /// <param name="where">Where it was seen.</param>
    /// <param name="text">The text.</param>
    public void ScanText(string where, string? text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return;
        }

        Interlocked.Increment(ref _scannedTexts);
        foreach (var secret in secrets.All)
        {
            var at = text.IndexOf(secret.Digits, StringComparison.OrdinalIgnoreCase);
            if (at >= 0)
            {
                var excerpt = Excerpt(text, at, secret.Digits.Length);
                _hits.AddOrUpdate($"{where}: the {secret.Label} secret", (excerpt, 1), static (_, hit) => (hit.Excerpt, hit.Count + 1));
            }
        }
    }

    private static string Excerpt(string text, int at, int length)
    {
        var start = Math.Max(0, at - 100);
        var end = Math.Min(text.Length, at + length + 60);
        return (start > 0 ? "..." : string.Empty) + text[start..end].ReplaceLineEndings(" ") + (end < text.Length ? "..." : string.Empty);
    }

    private void Walk(object? value, string path, int depth, HashSet<object> seen, ref int budget)
    {
        if (value is null || --budget < 0)
        {
            return;
        }

        if (value is string s)
        {
            ScanText(path, s);
            return;
        }

        var type = value.GetType();
        if (type.IsPrimitive || type.IsEnum || value is decimal or DateTime or DateTimeOffset or TimeSpan or Guid)
        {
            return; // no secret is a number
        }

        if (!type.IsValueType && !seen.Add(value))
        {
            return;
        }

        if (value is Type or MemberInfo or Assembly or Delegate or Stream or Task or WaitHandle or CancellationToken or IServiceProvider)
        {
            return; // code, not data
        }

        if (value is Exception exception)
        {
            ScanText(path + ".Message", exception.Message);
            ScanText(path + ".ToString()", exception.ToString());
            Walk(exception.Data, path + ".Data", depth + 1, seen, ref budget);
            if (exception is AggregateException aggregate)
            {
                for (var i = 0; i < aggregate.InnerExceptions.Count; i++)
                {
                    Walk(aggregate.InnerExceptions[i], $"{path}.InnerExceptions[{i}]", depth + 1, seen, ref budget);
                }
            }
            else
            {
                Walk(exception.InnerException, path + ".InnerException", depth + 1, seen, ref budget);
            }

            return;
        }

        if (value is Activity activity)
        {
            ScanText(path + ".ToString()", activity.ToString());
            return; // activities are scanned whole by the ActivityListener
        }

        if (value is IEnumerable<KeyValuePair<string, object?>> pairs)
        {
            ScanText(path + ".ToString()", SafeToString(value));
            foreach (var (key, item) in pairs.Take(MaxElements))
            {
                ScanText($"{path}[key {key}]", key);
                Walk(item, $"{path}[{key}]", depth + 1, seen, ref budget);
            }

            return;
        }

        if (value is IDictionary dictionary)
        {
            var n = 0;
            foreach (DictionaryEntry entry in dictionary)
            {
                if (n++ >= MaxElements)
                {
                    break;
                }

                Walk(entry.Key, $"{path}[key]", depth + 1, seen, ref budget);
                Walk(entry.Value, $"{path}[{entry.Key}]", depth + 1, seen, ref budget);
            }

            return;
        }

        if (value is IEnumerable sequence)
        {
            ScanText(path + ".ToString()", SafeToString(value));
            var i = 0;
            foreach (var item in sequence)
            {
                if (i >= MaxElements)
                {
                    break;
                }

                Walk(item, $"{path}[{i++}]", depth + 1, seen, ref budget);
            }

            return;
        }

        ScanText(path + ".ToString()", SafeToString(value));
        if (depth >= MaxDepth)
        {
            return;
        }

        foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            if (property.GetIndexParameters().Length > 0 || !property.CanRead)
            {
                continue;
            }

            object? item;
            try
            {
                item = property.GetValue(value);
            }
            catch (Exception)
            {
                continue; // a getter that throws exports nothing
            }

            Walk(item, $"{path}.{property.Name}", depth + 1, seen, ref budget);
        }
    }

    private static string? SafeToString(object value)
    {
        try
        {
            return value.ToString();
        }
        catch (Exception)
        {
            return null;
        }
    }
}
