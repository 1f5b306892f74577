using System.Reflection;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace Samples.Tests.Readme;

/// <summary>
/// The claims of src/Transport.Abstractions/README.md about what that package alone gives a consumer
/// (issue 17, item 8), compiled against Transport.Abstractions and the .NET shared framework only:
/// the waits and an <c>IObserver</c> work; <c>Lifecycle.Subscribe(lambda)</c> needs System.Reactive.
/// </summary>
public sealed class AbstractionsPackageClaimTests
{
    private const string Consumer = """
        using System;
        using System.Threading;
        using System.Threading.Tasks;
        using Transport;

        public static class Consumer
        {
            public static async Task UseAsync(ReconnectingConnection conn, CancellationToken ct)
            {
                var up = await conn.Lifecycle.WaitAsync(s => s.IsUp, ct);
                var next = await conn.Lifecycle.WaitForChangeAsync(up.Version, ct);
                using var subscription = conn.Lifecycle.Subscribe(new Printer());
                await conn.Sink.SendAsync(Frame.Text("subscribe"), ct);
                await foreach (var frame in conn.Source.WithCancellation(ct)) { _ = frame.GetText(); break; }
            }

            private sealed class Printer : IObserver<LifecycleSnapshot>
            {
                public void OnNext(LifecycleSnapshot value) => Console.WriteLine(value);
                public void OnError(Exception error) { }
                public void OnCompleted() { }
            }
        }
        """;

    [Fact]
    public void Transport_Abstractions_alone_suffices_for_a_consumer_using_the_waits_and_an_observer()
    {
        var errors = Compile(Consumer);

        Assert.True(errors.Count == 0, string.Join('\n', errors));
    }

    [Fact]
    public void Subscribe_with_a_lambda_needs_System_Reactive_as_the_README_says()
    {
        var errors = Compile(Consumer.Replace("conn.Lifecycle.Subscribe(new Printer())", "conn.Lifecycle.Subscribe(s => Console.WriteLine(s))", StringComparison.Ordinal));

        // CS1660: cannot convert lambda expression to type 'IObserver<LifecycleSnapshot>'.
        Assert.Contains(errors, e => e.Contains("CS1660", StringComparison.Ordinal));
    }

    private static List<string> Compile(string code)
    {
        var compilation = CSharpCompilation.Create(
            "AbstractionsConsumer",
            [CSharpSyntaxTree.ParseText(code, new CSharpParseOptions(LanguageVersion.Latest))],
            References(),
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable));
        return compilation.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error).Select(d => d.ToString()).ToList();
    }

    // The shared framework (not the test's own dependencies: System.Reactive is one) plus the package.
    private static List<MetadataReference> References()
    {
        var framework = Path.GetDirectoryName(typeof(object).Assembly.Location)!;
        var references = Directory.GetFiles(framework, "*.dll").Where(IsManaged).Select(p => (MetadataReference)MetadataReference.CreateFromFile(p)).ToList();
        Assert.DoesNotContain(references, r => r.Display!.Contains("System.Reactive", StringComparison.Ordinal));
        references.Add(MetadataReference.CreateFromFile(typeof(Transport.Frame).Assembly.Location));
        return references;
    }

    private static bool IsManaged(string path)
    {
        try
        {
            AssemblyName.GetAssemblyName(path);
            return true;
        }
        catch (BadImageFormatException)
        {
            return false;
        }
    }
}
