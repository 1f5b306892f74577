using System.Net;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Transport.Testing;

/// <summary>
/// Certificates a test creates for itself (System.Security.Cryptography's <see cref="CertificateRequest"/>):
/// a private test CA, leaf certificates it issues, and the validation callback that trusts that CA
/// and nothing else: the set-up a user has with a venue's private CA or a corporate TLS-inspecting proxy.
/// </summary>
/// <remarks>
/// Nothing is installed into a machine or user store: trust is given only through the callback, so the
/// tests show exactly what a user configures. Keys are ECDSA P-256 (fast to create on a loaded machine).
/// </remarks>
public sealed class TestCertificates : IDisposable
{
    private TestCertificates(X509Certificate2 authority) => Authority = authority;

    /// <summary>The test CA (with its private key; its public part is what clients trust).</summary>
    public X509Certificate2 Authority { get; }

    /// <summary>Creates a fresh test CA, valid from a day ago for a year.</summary>
    /// <param name="name">The CA's common name.</param>
    /// <returns>The CA.</returns>
    public static TestCertificates CreateAuthority(string name = "Transport Test CA")
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: true, hasPathLengthConstraint: true, pathLengthConstraint: 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, critical: true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, critical: false));
        var now = DateTimeOffset.UtcNow;
        using var created = request.CreateSelfSigned(now.AddDays(-1), now.AddYears(1));
        return new TestCertificates(Reload(created));
    }

    /// <summary>
    /// Issues a server certificate signed by this CA for <paramref name="dnsNames"/> (and 127.0.0.1 when
    /// <paramref name="includeLoopbackAddress"/>), with its private key, ready for Kestrel.
    /// </summary>
    /// <param name="dnsNames">The DNS names in the subject alternative name extension.</param>
    /// <param name="includeLoopbackAddress">Also carry the IP address 127.0.0.1.</param>
    /// <returns>The leaf certificate.</returns>
    public X509Certificate2 IssueServer(IEnumerable<string> dnsNames, bool includeLoopbackAddress = true)
    {
        ArgumentNullException.ThrowIfNull(dnsNames);
        var names = dnsNames.ToList();
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={(names.Count > 0 ? names[0] : "127.0.0.1")}", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        foreach (var name in names)
        {
            san.AddDnsName(name);
        }

        if (includeLoopbackAddress)
        {
            san.AddIpAddress(IPAddress.Loopback);
        }

        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: false, hasPathLengthConstraint: false, pathLengthConstraint: 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, critical: true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], critical: false)); // server authentication
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, critical: false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(Authority, includeKeyIdentifier: true, includeIssuerAndSerial: false));

        var now = DateTimeOffset.UtcNow;
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7F; // a positive serial number
        using var issued = request.Create(Authority, now.AddHours(-1), now.AddDays(30), serial);
        using var withKey = issued.CopyWithPrivateKey(key);
        return Reload(withKey);
    }

    /// <summary>
    /// A validation callback that accepts a certificate only if it chains to this CA (a custom root
    /// trust: the system store is not consulted) and its name matches the host the client asked for.
    /// This is what a user plugs into <see cref="SslClientAuthenticationOptions.RemoteCertificateValidationCallback"/>
    /// (a SocketsHttpHandler's <c>SslOptions</c>) or <c>ClientWebSocketOptions.RemoteCertificateValidationCallback</c>.
    /// </summary>
    /// <returns>The callback.</returns>
    public RemoteCertificateValidationCallback TrustOnlyThisAuthority()
    {
        var authority = X509CertificateLoader.LoadCertificate(Authority.RawData); // public part only
        return (_, certificate, _, errors) =>
        {
            // A name mismatch (or no certificate) is never forgiven: only the chain's root is replaced.
            if (certificate is null || (errors & ~SslPolicyErrors.RemoteCertificateChainErrors) != SslPolicyErrors.None)
            {
                return false;
            }

            using var chain = new X509Chain();
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.Add(authority);
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            using var leaf = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
            return chain.Build(leaf);
        };
    }

    /// <inheritdoc />
    public void Dispose() => Authority.Dispose();

    // A PFX round trip gives a certificate whose private key every platform's TLS stack can use.
    private static X509Certificate2 Reload(X509Certificate2 certificate) =>
        X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pfx), password: null, X509KeyStorageFlags.Exportable);
}
