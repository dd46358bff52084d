(** The checker for certificates of kind [worlds]: a hinted refutation of the
    k-world encoding, with k at least 2^(number of atoms), proved sound:
    [check_worlds_sound : check_worlds f c = true -> s5_valid f].

    Argument: if [f] fails at a world w0 of a universal model, pick one world
    per combination of atom values that occurs (w0 first); worlds that agree
    on the atoms agree on every variable of the table, so these at most 2^n
    worlds, put into the k copies, satisfy every copy's clauses, the shared
    global variables, every witness clause and the unit [-root]; a refutation
    of those clauses is therefore impossible. *)

From Coq Require Import String List ZArith PArith Bool Classical Lia.
From Coq Require Import FSets.FMapPositive.
From PXL Require Import Kernel Checker.
Import ListNotations.
Local Open Scope Z_scope.

(** Copy [j] of a literal: global variables are shared, the others are
    shifted by [j * n]. *)
Definition ren (tm : tmap) (n j : Z) (l : Z) : Z :=
  if is_glob tm (lvar l) then l else if 0 <? l then l + j * n else l - j * n.

Definition boxes (t : table) : list (positive * Z) :=
  flat_map (fun '(x, (_, e)) => match e with EBox a => [(x, a)] | _ => [] end) t.

(** Box variables whose argument is not global: each may need a witness world of its own. *)
Definition free_boxes (tm : tmap) (t : table) : list (positive * Z) :=
  filter (fun '(_, a) => negb (is_glob tm (lvar a))) (boxes t).

Definition atoms (t : table) : list string :=
  flat_map (fun '(_, (_, e)) => match e with EAtom s => [s] | _ => [] end) t.

(** The k-world encoding in the order of its clause ids: the k copies of the
    encoding, one witness clause per box variable, then [-root]. *)
Definition world_clauses (t : table) (tm : tmap) (n : Z) (k : nat) (root : Z) :=
  flat_map (fun j => map (map (ren tm n (Z.of_nat j))) (enc_clauses t)) (seq 0 k)
  ++ map (fun '(b, a) => Zpos b :: map (fun j => - ren tm n (Z.of_nat j) a) (seq 0 k)) (boxes t)
  ++ [[- root]].

Definition in_range (n : Z) (l : Z) : bool := nonzero l && (Zpos (lvar l) <=? n).

Fixpoint run_adds (db : clause_db) (steps : list step) : option clause_db :=
  match steps with
  | [] => Some db
  | SAdd id c hints :: r => if rup db c hints then run_adds (PM.add id c db) r else None
  | SNec _ _ _ _ :: _ => None
  end.

Record wcert : Type := mk_wcert {
  w_table : table;
  w_root : Z;
  w_vars : Z;          (** the number of variables of one copy *)
  w_worlds : nat;      (** k *)
  w_steps : list step; (** RUP additions only *)
  w_final : list positive  (** hints refuting the database: the empty clause is RUP *)
}.

Definition check_worlds (f : form) (c : wcert) : bool :=
  match build (w_table c) (PM.empty _) with
  | None => false
  | Some tm =>
      let n := w_vars c in
      let k := w_worlds c in
      wf_table tm (w_table c) && matches tm (w_root c) f
      && in_range n (w_root c)
      && forallb (fun cl => forallb (in_range n) cl) (enc_clauses (w_table c))
      && ((2 ^ Z.of_nat (length (atoms (w_table c))) <=? Z.of_nat k)
          || (Z.of_nat (length (free_boxes tm (w_table c))) + 1 <=? Z.of_nat k))
      && match run_adds (load (world_clauses (w_table c) tm n k (w_root c))) (w_steps c) with
         | Some db => rup db [] (w_final c)
         | None => false
         end
  end.

Lemma run_adds_sound v : forall steps db db',
  db_sat v db -> run_adds db steps = Some db' -> db_sat v db'.
Proof.
  induction steps as [|s r IH]; intros db db' Hdb Hr; simpl in Hr.
  - inversion Hr; subst; exact Hdb.
  - destruct s as [id c hints | ]; [|discriminate].
    destruct (rup db c hints) eqn:Hrup; [|discriminate].
    refine (IH _ _ _ Hr). intros id' c' H. destruct (Pos.eq_dec id' id) as [-> | Hne].
    + rewrite PM.gss in H. inversion H; subst. exact (rup_sound _ _ _ _ Hdb Hrup).
    + rewrite PM.gso in H by exact Hne. exact (Hdb _ _ H).
Qed.

(** * Worlds that agree on the atoms agree on every variable *)

Section Agree.
  Variables (W : Type) (val : W -> string -> Prop) (tm : tmap).
  Hypothesis wf : forall x g e, PM.find x tm = Some (g, e) ->
    forall l, In l (children e) -> l <> 0 /\ (lvar l < x)%positive.
  Local Notation Vt := (V W val tm).

  Lemma agree_all u u' :
    (forall x g s, PM.find x tm = Some (g, EAtom s) -> (val u s <-> val u' s)) ->
    forall m x, (Pos.to_nat x < m)%nat -> (Vt u x <-> Vt u' x).
  Proof.
    intros Hat. induction m as [|m IH]; intros x Hm; [lia|].
    destruct (Pos.eq_dec x 1) as [-> | Hne]; [split; intros; exact I|].
    destruct (PM.find x tm) as [[g e]|] eqn:Hx.
    - rewrite (V_eq W val tm wf _ _ _ Hx Hne u), (V_eq W val tm wf _ _ _ Hx Hne u').
      destruct e; try reflexivity;
        apply sem_ext; try (intros; reflexivity);
        try (intros s0 Hs; inversion Hs; subst; exact (Hat _ _ _ Hx));
        intros l Hl; destruct (wf _ _ _ Hx l Hl) as [_ Hlt]; apply Pos2Nat.inj_lt in Hlt;
        apply IH; lia.
    - unfold V; simpl. destruct (Pos.eqb_spec x 1); [contradiction|]. rewrite Hx.
      reflexivity.
  Qed.
End Agree.

(** * One world per combination of atom values *)

Section Cover.
  Variables (W : Type) (val : W -> string -> Prop) (w0 : W).

  Definition agree_on (ss : list string) (u u' : W) : Prop :=
    forall s, In s ss -> (val u s <-> val u' s).

  Lemma cover : forall ss, exists us : list W,
    (length us <= 2 ^ length ss)%nat /\ nth 0 us w0 = w0 /\
    forall u, exists j, (j < length us)%nat /\ agree_on ss u (nth j us w0).
  Proof.
    induction ss as [|s ss IH].
    - exists [w0]. simpl. split; [lia|]. split; [reflexivity|].
      intro u. exists 0%nat. split; [lia|]. intros s [].
    - destruct IH as [us [Hlen [Hhd Hcov]]].
      (* for each world of [us], add one with the other value of [s] when there is one *)
      assert (Hstep : forall vs, exists vs',
        (length vs' <= 2 * length vs)%nat /\ (vs <> [] -> nth 0 vs' w0 = nth 0 vs w0) /\
        forall m u, In m vs -> agree_on ss u m ->
          exists m', In m' vs' /\ agree_on (s :: ss) u m').
      { induction vs as [|m vs IHv].
        - exists []. split; [simpl; lia|]. split; [congruence|]. intros m u [].
        - destruct IHv as [vs' [Hl [_ Hc]]].
          destruct (classic (exists u', agree_on ss u' m /\ ~ (val u' s <-> val m s)))
            as [[u' [Hu' Hs']] | Hno].
          + exists (m :: u' :: vs'). simpl. split; [lia|]. split; [reflexivity|].
            intros m0 u [<- | Hin] Hag.
            * destruct (classic (val u s <-> val m s)) as [Heq | Hne].
              -- exists m. split; [left; reflexivity|]. intros s0 [<- | Hs0]; auto.
              -- exists u'. split; [right; left; reflexivity|].
                 intros s0 [<- | Hs0].
                 ++ destruct (classic (val u s)), (classic (val m s)), (classic (val u' s));
                      tauto.
                 ++ rewrite (Hag s0 Hs0). symmetry. apply Hu'. exact Hs0.
            * destruct (Hc _ _ Hin Hag) as [m' [Hm' Ha]]. exists m'. split; [right; right|]; auto.
          + exists (m :: vs'). simpl. split; [lia|]. split; [reflexivity|].
            intros m0 u [<- | Hin] Hag.
            * exists m. split; [left; reflexivity|]. intros s0 [<- | Hs0]; auto.
              apply NNPP. intro Hn. apply Hno. exists u. split; auto.
            * destruct (Hc _ _ Hin Hag) as [m' [Hm' Ha]]. exists m'. split; [right|]; auto. }
      destruct (Hstep us) as [us' [Hl' [Hh' Hc']]].
      assert (Hne : us <> []) by (destruct us; simpl in *; [specialize (Hcov w0); destruct Hcov as [j [Hj _]]; lia | congruence]).
      exists us'. split; [simpl; lia|]. split; [rewrite (Hh' Hne); exact Hhd|].
      intro u. destruct (Hcov u) as [j [Hj Hag]].
      destruct (Hc' (nth j us w0) u (nth_In _ _ Hj) Hag) as [m' [Hm' Ha]].
      destruct (In_nth _ _ w0 Hm') as [j' [Hj' <-]]. exists j'. auto.
  Qed.
End Cover.

(** One witness world per box whose argument fails somewhere. *)
Lemma box_witnesses (W : Type) (V' : W -> positive -> Prop) (L : list (positive * Z)) :
  exists ws : list W, (length ws <= length L)%nat /\
    forall b a, In (b, a) L -> (exists u, ~ lit_true (V' u) a) ->
      exists u, In u ws /\ ~ lit_true (V' u) a.
Proof.
  induction L as [|[b a] L IH].
  - exists []. split; [simpl; lia|]. intros b a [].
  - destruct IH as [ws [Hl Hw]].
    destruct (classic (exists u, ~ lit_true (V' u) a)) as [[u Hu] | Hno].
    + exists (u :: ws). split; [simpl; lia|]. intros b' a' [Heq | Hin] Hex.
      * inversion Heq; subst. exists u. split; [left|]; auto.
      * destruct (Hw _ _ Hin Hex) as [u' [Hu' Hn]]. exists u'. split; [right|]; auto.
    + exists ws. split; [simpl; lia|]. intros b' a' [Heq | Hin] Hex.
      * inversion Heq; subst. contradiction.
      * exact (Hw _ _ Hin Hex).
Qed.

(** * Soundness *)

Lemma lit_posz v z : 0 < z -> (lit_true v z <-> v (Z.to_pos z)).
Proof. destruct z; simpl; intros; try lia; reflexivity. Qed.

Lemma lit_negz v z : z < 0 -> (lit_true v z <-> ~ v (Z.to_pos (- z))).
Proof. destruct z; simpl; intros; try lia; reflexivity. Qed.

Lemma ren_opp tm n j l : l <> 0 -> ren tm n j (- l) = - ren tm n j l.
Proof.
  intro Hl. unfold ren. replace (lvar (- l)) with (lvar l) by (destruct l; reflexivity).
  destruct (is_glob tm (lvar l)); [reflexivity|].
  destruct (Z.ltb_spec 0 l), (Z.ltb_spec 0 (- l)); lia.
Qed.

Section WorldsSound.
  Variables (W : Type) (val : W -> string -> Prop) (w0 : W) (tm : tmap) (n : Z) (us : list W).
  Hypothesis wf : forall x g e, PM.find x tm = Some (g, e) ->
    forall l, In l (children e) -> l <> 0 /\ (lvar l < x)%positive.
  Hypothesis wf_glob : forall x e, PM.find x tm = Some (true, e) ->
    match e with
    | EBox _ => True
    | EAtom _ => False
    | _ => forall l, In l (children e) -> is_glob tm (lvar l) = true
    end.
  Hypothesis Hhd : nth 0 us w0 = w0.
  Local Notation Vt := (V W val tm).
  Local Notation U j := (nth j us w0).

  (** The valuation of the k-world variables: copy j of variable v is v at world U j. *)
  Definition VkZ (z : Z) : Prop :=
    (z <= n /\ Vt w0 (Z.to_pos z))
    \/ (exists j v, 1 <= j /\ 1 <= v <= n /\ z = v + j * n /\ Vt (U (Z.to_nat j)) (Z.to_pos v)).
  Definition Vk (y : positive) : Prop := VkZ (Zpos y).

  Lemma VkZ_base x : Zpos x <= n -> (VkZ (Zpos x) <-> Vt w0 x).
  Proof.
    intro Hx. unfold VkZ. split.
    - intros [[_ H] | [j [v [Hj [Hv [Heq _]]]]]]; [exact H | nia].
    - intro H. left. split; assumption.
  Qed.

  Lemma VkZ_copy x J : Zpos x <= n -> 1 <= J ->
    (VkZ (Zpos x + J * n) <-> Vt (U (Z.to_nat J)) x).
  Proof.
    intros Hx HJ. unfold VkZ. split.
    - intros [[Hle _] | [j [v [Hj [Hv [Heq H]]]]]]; [nia|].
      assert (j = J) by nia. subst j. assert (v = Zpos x) by lia. subst v. exact H.
    - intro H. right. exists J, (Zpos x). repeat split; try lia. exact H.
  Qed.

  Lemma ren_sound j l : in_range n l = true ->
    (lit_true Vk (ren tm n (Z.of_nat j) l) <-> lit_true (Vt (U j)) l).
  Proof.
    intro Hr. unfold in_range, nonzero in Hr. apply andb_true_iff in Hr.
    destruct Hr as [Hnz Hle]. apply negb_true_iff, Z.eqb_neq in Hnz. apply Z.leb_le in Hle.
    assert (Hglob0 : forall x, Zpos x <= n -> (j = 0%nat \/ is_glob tm x = true) ->
              (Vk x <-> Vt (U j) x)).
    { intros x Hx Hj. unfold Vk. rewrite VkZ_base by exact Hx.
      destruct Hj as [-> | Hg]; [rewrite Hhd; reflexivity|].
      exact (glob_invariant W val tm wf wf_glob (S (Pos.to_nat x)) x
                            ltac:(lia) Hg w0 (U j)). }
    unfold ren. destruct (is_glob tm (lvar l)) eqn:Hg.
    - apply lit_ext. apply Hglob0; auto.
    - destruct (Nat.eq_dec j 0) as [-> | Hj].
      + replace (if 0 <? l then l + Z.of_nat 0 * n else l - Z.of_nat 0 * n) with l
          by (destruct (0 <? l); lia).
        apply lit_ext. apply Hglob0; auto.
      + assert (HJ : 1 <= Z.of_nat j) by lia.
        destruct l as [|x|x]; [congruence| |]; simpl in Hle.
        * rewrite (proj2 (Z.ltb_lt 0 (Z.pos x)) (Pos2Z.is_pos x)). cbv iota.
          change (lit_true (Vt (U j)) (Z.pos x)) with (Vt (U j) x).
          rewrite lit_posz by nia. unfold Vk. rewrite Z2Pos.id by nia.
          pose proof (VkZ_copy x (Z.of_nat j) Hle HJ) as H. rewrite Nat2Z.id in H.
          exact H.
        * rewrite (proj2 (Z.ltb_ge 0 (Z.neg x)) ltac:(lia)). cbv iota.
          change (lit_true (Vt (U j)) (Z.neg x)) with (~ Vt (U j) x).
          rewrite lit_negz by nia.
          replace (- (Z.neg x - Z.of_nat j * n)) with (Zpos x + Z.of_nat j * n) by lia.
          unfold Vk. rewrite Z2Pos.id by nia.
          pose proof (VkZ_copy x (Z.of_nat j) Hle HJ) as H. rewrite Nat2Z.id in H.
          rewrite H. reflexivity.
  Qed.
End WorldsSound.

Theorem check_worlds_universal : forall f c, check_worlds f c = true -> universal_valid f.
Proof.
  intros f c Hc W val w0. apply NNPP. intro Hf. unfold check_worlds in Hc.
  destruct (build (w_table c) (PM.empty _)) as [tm|] eqn:Hb; [|discriminate].
  apply andb_true_iff in Hc; destruct Hc as [Hc Hrun].
  apply andb_true_iff in Hc; destruct Hc as [Hc Hbound].
  apply andb_true_iff in Hc; destruct Hc as [Hc Hranges].
  apply andb_true_iff in Hc; destruct Hc as [Hc Hroot].
  apply andb_true_iff in Hc; destruct Hc as [Hwf Hm].
  set (t := w_table c) in *. set (n := w_vars c) in *. set (k := w_worlds c) in *.
  pose proof (twf _ _ Hb Hwf) as wf. pose proof (tglob _ _ Hb Hwf) as wfg.
  (* worlds for the copies: w0 first, and a world where the argument of each false box fails *)
  assert (Hus : exists us, nth 0 us w0 = w0 /\ (length us <= k)%nat /\ (0 < k)%nat /\
    forall b g a, In (b, (g, EBox a)) t -> ~ V W val tm w0 b ->
      exists j, (j < length us)%nat /\ ~ lit_true (V W val tm (nth j us w0)) a).
  { assert (Hfalse : forall b g a, In (b, (g, EBox a)) t -> ~ V W val tm w0 b ->
              exists u, ~ lit_true (V W val tm u) a).
    { intros b g a Hin Hv. pose proof (build_in _ _ _ _ _ Hb Hin) as Hx.
      rewrite (V_eq W val tm wf _ _ _ Hx (tne _ _ Hb Hwf _ _ _ Hx) w0) in Hv. simpl in Hv.
      apply NNPP. intro Hno. apply Hv. intro u. apply NNPP. intro. apply Hno. eauto. }
    apply orb_true_iff in Hbound. destruct Hbound as [Hbound | Hbound]; apply Z.leb_le in Hbound.
    - assert (Hb2 : (2 ^ length (atoms t) <= k)%nat).
      { apply Nat2Z.inj_le. rewrite Nat2Z.inj_pow. exact Hbound. }
      destruct (cover W val w0 (atoms t)) as [us [Hlen [Hhd Hcov]]].
      exists us. split; [exact Hhd|]. split; [lia|].
      split; [pose proof (Nat.pow_nonzero 2 (length (atoms t))); lia|].
      intros b g a Hin Hv. destruct (Hfalse _ _ _ Hin Hv) as [u Hu].
      destruct (Hcov u) as [j [Hj Hag]]. exists j. split; [exact Hj|].
      assert (Hsame : forall y, V W val tm u y <-> V W val tm (nth j us w0) y).
      { intro y. apply (agree_all W val tm wf u (nth j us w0)) with (m := S (Pos.to_nat y));
          [|lia]. intros x' g' s Hx'. apply Hag.
        destruct (build_find _ _ _ _ _ Hb Hx') as [Hin' | He];
          [|rewrite PM.gempty in He; discriminate].
        unfold atoms. apply in_flat_map. exists (x', (g', EAtom s)).
        split; [exact Hin' | left; reflexivity]. }
      intro Hl. apply Hu. apply (lit_ext (V W val tm u) (V W val tm (nth j us w0)));
        [apply Hsame | exact Hl].
    - destruct (box_witnesses W (V W val tm) (free_boxes tm t)) as [ws [Hl Hw]].
      exists (w0 :: ws). split; [reflexivity|]. simpl. split; [lia|]. split; [lia|].
      intros b g a Hin Hv. destruct (Hfalse _ _ _ Hin Hv) as [u Hu].
      destruct (is_glob tm (lvar a)) eqn:Hg.
      + exists 0%nat. split; [lia|]. simpl. intro Hl0. apply Hu.
        apply (lit_ext (V W val tm w0) (V W val tm u)); [|exact Hl0].
        exact (glob_invariant W val tm wf wfg (S (Pos.to_nat (lvar a))) (lvar a) ltac:(lia) Hg w0 u).
      + assert (Hfb : In (b, a) (free_boxes tm t)).
        { apply filter_In. split; [|rewrite Hg; reflexivity].
          apply in_flat_map. exists (b, (g, EBox a)). split; [exact Hin | left; reflexivity]. }
        destruct (Hw _ _ Hfb (ex_intro _ u Hu)) as [u' [Hu' Hn]].
        destruct (In_nth _ _ w0 Hu') as [j [Hj Hnth]].
        exists (S j). split; [lia|]. simpl. rewrite Hnth. exact Hn. }
  destruct Hus as [us [Hhd [Hlenk [Hk0 Hwit]]]].
  rewrite forallb_forall in Hranges.
  set (Vk' := Vk W val w0 tm n us).
  (* every clause of the k-world encoding holds under Vk' *)
  assert (Hinit : db_sat Vk' (load (world_clauses t tm n k (w_root c)))).
  { intros id cl Hcl. unfold load in Hcl. destruct (load_in _ _ _ _ _ Hcl) as [Hin | He];
      [|rewrite PM.gempty in He; discriminate].
    unfold world_clauses in Hin. apply in_app_or in Hin. destruct Hin as [Hin | Hin];
      [|apply in_app_or in Hin; destruct Hin as [Hin | [<- | []]]].
    - apply in_flat_map in Hin. destruct Hin as [j [Hj Hin]]. apply in_seq in Hj.
      apply in_map_iff in Hin. destruct Hin as [c0 [<- Hc0]].
      pose proof (enc_sound W val _ _ Hb Hwf c0 Hc0 (nth j us w0)) as Hs.
      unfold sat in Hs. rewrite Exists_exists in Hs. destruct Hs as [l [Hl Hlt]].
      apply (sat_in _ _ (ren tm n (Z.of_nat j) l)); [apply in_map; exact Hl|].
      pose proof (Hranges c0 Hc0) as Hr. rewrite forallb_forall in Hr.
      apply (ren_sound W val w0 tm n us wf wfg Hhd j l (Hr l Hl)). exact Hlt.
    - apply in_map_iff in Hin. destruct Hin as [[b a] [<- Hba]].
      unfold boxes in Hba. apply in_flat_map in Hba. destruct Hba as [[x [g e]] [Hxt Hba]].
      destruct e; simpl in Hba; try contradiction. destruct Hba as [Heq | []].
      inversion Heq; subst x a0. clear Heq.
      pose proof (build_in _ _ _ _ _ Hb Hxt) as Hx.
      assert (Hbox : In [Zneg b; a] (enc_clauses t)).
      { right. apply in_flat_map. exists (b, (g, EBox a)). split; [exact Hxt | left; reflexivity]. }
      pose proof (Hranges _ Hbox) as Hr. simpl in Hr.
      apply andb_true_iff in Hr. destruct Hr as [Hrb Hr]. apply andb_true_iff in Hr.
      destruct Hr as [Hra _].
      assert (Hbn : Zpos b <= n) by (unfold in_range in Hrb; apply andb_true_iff in Hrb;
        destruct Hrb as [_ Hrb]; apply Z.leb_le; exact Hrb).
      destruct (classic (Vk' b)) as [Hv | Hv]; [apply (sat_in _ _ (Zpos b)); [left|]; auto|].
      unfold Vk', Vk in Hv. rewrite (VkZ_base W val w0 tm n us b Hbn) in Hv.
      destruct (Hwit _ _ _ Hxt Hv) as [j [Hj Hn]].
      assert (Ha0 : a <> 0) by (apply (wf _ _ _ Hx); left; reflexivity).
      apply (sat_in _ _ (- ren tm n (Z.of_nat j) a)).
      + right. apply in_map_iff. exists j. split; [reflexivity|]. apply in_seq. lia.
      + rewrite <- (ren_opp _ _ _ _ Ha0). apply (ren_sound W val w0 tm n us wf wfg Hhd j (- a)).
        * unfold in_range in *. destruct a; simpl in *; auto; congruence.
        * apply lit_neg; [exact Ha0 | exact Hn].
    - apply (sat_in _ _ (- w_root c)); [left; reflexivity|].
      pose proof (ren_sound W val w0 tm n us wf wfg Hhd 0 (- w_root c)) as H.
      replace (ren tm n (Z.of_nat 0) (- w_root c)) with (- w_root c) in H
        by (unfold ren; destruct (is_glob _ _), (0 <? - w_root c); simpl; lia).
      unfold Vk'. apply H.
      + unfold in_range in *. destruct (w_root c); simpl in *; auto.
      + rewrite Hhd. apply lit_neg.
        * unfold in_range, nonzero in Hroot. apply andb_true_iff in Hroot.
          destruct Hroot as [Hz _]. apply negb_true_iff, Z.eqb_neq in Hz. exact Hz.
        * intro Hl. apply Hf.
          exact (proj1 (matches_sound W val tm wf (tnone _ _ Hb Hwf) f _ Hm w0) Hl). }
  destruct (run_adds _ (w_steps c)) as [db|] eqn:Hr; [|discriminate].
  pose proof (rup_sound _ _ _ _ (run_adds_sound _ _ _ _ Hinit Hr) Hrun) as Hs.
  inversion Hs.
Qed.

(** The worlds checker is sound for S5. *)
Theorem check_worlds_sound : forall f c, check_worlds f c = true -> s5_valid f.
Proof.
  intros f c H. apply universal_valid_s5_valid. exact (check_worlds_universal f c H).
Qed.
