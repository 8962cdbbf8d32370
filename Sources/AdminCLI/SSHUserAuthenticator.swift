import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSH

/// The SSH users a server accepts, ready for checking logins: keys parsed once.
struct SSHUserDirectory: Sendable {
    struct Entry: Sendable {
        var user: SSHUser
        var keys: [NIOSSHPublicKey]
    }

    var entries: [String: Entry] = [:]
    /// The most expensive configured password hash: unknown users and users without a
    /// password are checked against it too, so they take as long to refuse as a wrong password.
    var decoyHash: String?

    init(_ users: [SSHUser]) throws {
        for (index, user) in users.enumerated() {
            if let problem = user.problems(at: "ssh.users[\(index)]").first { throw SSHError(.configuration, problem) }
            entries[user.name] = Entry(user: user, keys: user.authorizedKeys.compactMap { try? NIOSSHPublicKey(openSSHPublicKey: $0) })
        }
        decoyHash = users.compactMap(\.passwordHash).max { (try? Bcrypt.Parsed($0).cost) ?? 0 < (try? Bcrypt.Parsed($1).cost) ?? 0 }
    }
}

/// Who logged in on one SSH connection; set by the authenticator, read by the sessions.
final class SSHLogin: Sendable {
    let remote: String
    private let user = NIOLockedValueBox<SSHUser?>(nil)

    init(remote: String) { self.remote = remote }

    var current: SSHUser? { user.withLockedValue { $0 } }
    func set(_ value: SSHUser) { user.withLockedValue { $0 = value } }
}

/// Checks one connection's login attempts against the configured users: public keys (NIOSSH
/// has verified the signature already) and bcrypt passwords (checked on a thread pool, not
/// on the event loop). Unknown users and wrong passwords get the same refusal; the log says
/// which it was.
final class SSHUserAuthenticator: NIOSSHServerUserAuthenticationDelegate, Sendable {
    let directory: SSHUserDirectory
    let login: SSHLogin
    let log: @Sendable (String) -> Void

    init(directory: SSHUserDirectory, login: SSHLogin, log: @escaping @Sendable (String) -> Void) {
        self.directory = directory
        self.login = login
        self.log = log
    }

    var supportedAuthenticationMethods: NIOSSHAvailableUserAuthenticationMethods { [.publicKey, .password] }

    func requestReceived(request: NIOSSHUserAuthenticationRequest,
                         responsePromise: EventLoopPromise<NIOSSHUserAuthenticationOutcome>) {
        let name = request.username
        let entry = directory.entries[name]
        switch request.request {
        case .publicKey(let offer):
            guard let entry else {
                refuse("unknown user", name: name, method: "publickey", responsePromise)
                return
            }
            guard entry.keys.contains(offer.publicKey) else {
                let fingerprint = PinnedHostKey.fingerprint(of: offer.publicKey)
                refuse("key \(fingerprint) is not in the user's authorized_keys", name: name, method: "publickey", responsePromise)
                return
            }
            accept(entry.user, method: "publickey", responsePromise)
        case .password(let offer):
            let hash = entry?.user.passwordHash ?? directory.decoyHash
            guard let hash else {
                refuse(entry == nil ? "unknown user" : "the user has no password", name: name, method: "password", responsePromise)
                return
            }
            let password = offer.password
            let checked = NIOThreadPool.singleton.runIfActive(eventLoop: responsePromise.futureResult.eventLoop) {
                (try? Bcrypt.verify(password, hash: hash)) ?? false
            }
            checked.whenComplete { [self] result in
                let matches = (try? result.get()) ?? false
                if let entry, entry.user.passwordHash != nil, matches {
                    accept(entry.user, method: "password", responsePromise)
                } else {
                    let reason = entry == nil ? "unknown user" : entry?.user.passwordHash == nil ? "the user has no password" : "wrong password"
                    refuse(reason, name: name, method: "password", responsePromise)
                }
            }
        default:
            // "none" (OpenSSH asks it first to learn the methods) and host-based: not a login try.
            responsePromise.succeed(.failure)
        }
    }

    private func accept(_ user: SSHUser, method: String,
                        _ promise: EventLoopPromise<NIOSSHUserAuthenticationOutcome>) {
        login.set(user)
        log("SSH login: user \"\(user.name)\" (\(user.role.rawValue)) from \(login.remote) by \(method)")
        promise.succeed(.success)
    }

    private func refuse(_ reason: String, name: String, method: String,
                        _ promise: EventLoopPromise<NIOSSHUserAuthenticationOutcome>) {
        log("SSH login failed: user \"\(Self.printable(name))\" from \(login.remote) by \(method): \(reason)")
        promise.succeed(.failure)
    }

    /// A user name as the client sent it, safe for one log line.
    static func printable(_ name: String) -> String {
        String(name.prefix(64).map { $0.isLetter || $0.isNumber || "-_.@".contains($0) ? $0 : "?" })
    }
}
